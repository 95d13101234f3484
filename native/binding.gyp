# Parley's frame ciphers on the OpenSSL inside Node (native/aead.cc). Built by `make`
# (npm run build:native); where it cannot be built, src/crypto/aead.ts uses libsodium or node:crypto.
{
  "targets": [
    {
      "target_name": "parley_aead",
      "sources": ["aead.cc"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
