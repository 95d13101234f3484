// Parley's frame ciphers on the OpenSSL inside Node (src/crypto/aead.ts says why: node:crypto
// sets up a new cipher context for every frame, ~2.5 us; libsodium's prebuilt ChaCha20 in
// sodium-native is its portable C version). One cipher context per cipher and direction, made
// once per Node environment and re-keyed for each frame: no fetch from OpenSSL's providers and
// no allocation per frame. Everything here runs on the JavaScript thread that calls it.
//
// seal(cipher, key, nonce, plaintext, out, offset): ciphertext and 16-byte tag into out[offset..]
// open(cipher, key, nonce, sealed, out): true and the plaintext in out[0..], or false when the
//   tag does not verify (out may then hold garbage: the caller drops it)
// hardwareAes: whether this CPU has AES and carry-less multiply instructions (AES-GCM is then
//   fast and constant-time; without them ChaCha20-Poly1305 is preferred)
//
// cipher: 0 AES-256-GCM, 1 ChaCha20-Poly1305. key 32 bytes, nonce 12 bytes. Any other argument
// throws a TypeError or RangeError: no length is trusted.

#include <climits>
#include <cstdint>
#include <node_api.h>
#include <openssl/evp.h>

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr int kCiphers = 2;
const char* const kCipherNames[kCiphers] = {"AES-256-GCM", "ChaCha20-Poly1305"};

struct Contexts {
  EVP_CIPHER* ciphers[kCiphers] = {};
  EVP_CIPHER_CTX* seal[kCiphers] = {};
  EVP_CIPHER_CTX* open[kCiphers] = {};
};

void FreeContexts(napi_env, void* data, void*) {
  auto* contexts = static_cast<Contexts*>(data);
  for (int i = 0; i < kCiphers; i++) {
    EVP_CIPHER_CTX_free(contexts->seal[i]);
    EVP_CIPHER_CTX_free(contexts->open[i]);
    EVP_CIPHER_free(contexts->ciphers[i]);
  }
  delete contexts;
}

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

// A Uint8Array's bytes (a Buffer is one). napi_get_typedarray_info refuses anything that is not a
// typed array (napi_invalid_arg), so no separate check is made: each costs a call into V8, and a
// fan-out seals a frame per member.
bool ReadBytes(napi_env env, napi_value value, Bytes* out) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void* data;
  if (napi_get_typedarray_info(env, value, &type, &out->length, &data, &buffer, &offset) != napi_ok) return false;
  out->data = static_cast<uint8_t*>(data);
  return type == napi_uint8_array;
}

// A whole number that fits an int32 (napi_get_value_int32 alone would wrap 2^32 + 8 to 8).
bool ReadInt(napi_env env, napi_value value, int32_t* out) {
  double number;
  if (napi_get_value_double(env, value, &number) != napi_ok) return false;  // not a number
  if (!(number >= INT32_MIN && number <= INT32_MAX) || number != static_cast<double>(static_cast<int32_t>(number))) return false;
  *out = static_cast<int32_t>(number);
  return true;
}

napi_value Fail(napi_env env, const char* code, const char* message, bool range = false) {
  if (range) napi_throw_range_error(env, code, message);
  else napi_throw_type_error(env, code, message);
  return nullptr;
}

// The arguments every call shares: cipher, key, nonce, then the contexts for that cipher.
bool ReadCommon(napi_env env, napi_value* args, Contexts** contexts, int32_t* cipher, Bytes* key, Bytes* nonce) {
  if (napi_get_instance_data(env, reinterpret_cast<void**>(contexts)) != napi_ok || *contexts == nullptr) return false;
  return ReadInt(env, args[0], cipher) && *cipher >= 0 && *cipher < kCiphers && ReadBytes(env, args[1], key) && key->length == kKeyBytes &&
         ReadBytes(env, args[2], nonce) && nonce->length == kNonceBytes;
}

napi_value Seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  if (napi_get_cb_info(env, info, &argc, args, nullptr, nullptr) != napi_ok || argc != 6) return Fail(env, "E_ARGS", "seal takes 6 arguments");
  Contexts* contexts;
  int32_t cipher, offset;
  Bytes key, nonce, plaintext, out;
  if (!ReadCommon(env, args, &contexts, &cipher, &key, &nonce)) return Fail(env, "E_ARGS", "seal: a cipher number, a 32-byte key and a 12-byte nonce");
  if (!ReadBytes(env, args[3], &plaintext) || !ReadBytes(env, args[4], &out) || !ReadInt(env, args[5], &offset)) return Fail(env, "E_ARGS", "seal: plaintext and out are Uint8Arrays, offset a number");
  if (plaintext.length > INT_MAX - kTagBytes || offset < 0 || static_cast<size_t>(offset) > out.length || out.length - offset < plaintext.length + kTagBytes)
    return Fail(env, "E_ARGS", "seal: out has no room for the ciphertext and tag at offset", true);
  EVP_CIPHER_CTX* ctx = contexts->seal[cipher];
  uint8_t* sealed = out.data + offset;
  int written = 0, final_written = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, key.data, nonce.data) != 1 ||
      EVP_EncryptUpdate(ctx, sealed, &written, plaintext.data, static_cast<int>(plaintext.length)) != 1 ||
      EVP_EncryptFinal_ex(ctx, sealed + written, &final_written) != 1 ||
      static_cast<size_t>(written + final_written) != plaintext.length ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, sealed + plaintext.length) != 1)
    return Fail(env, "E_CRYPTO", "seal failed in OpenSSL");
  return nullptr;
}

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  if (napi_get_cb_info(env, info, &argc, args, nullptr, nullptr) != napi_ok || argc != 5) return Fail(env, "E_ARGS", "open takes 5 arguments");
  Contexts* contexts;
  int32_t cipher;
  Bytes key, nonce, sealed, out;
  if (!ReadCommon(env, args, &contexts, &cipher, &key, &nonce)) return Fail(env, "E_ARGS", "open: a cipher number, a 32-byte key and a 12-byte nonce");
  if (!ReadBytes(env, args[3], &sealed) || !ReadBytes(env, args[4], &out)) return Fail(env, "E_ARGS", "open: sealed and out are Uint8Arrays");
  if (sealed.length < kTagBytes || sealed.length - kTagBytes > INT_MAX || out.length < sealed.length - kTagBytes)
    return Fail(env, "E_ARGS", "open: sealed is shorter than its tag, or out is shorter than its plaintext", true);
  const size_t body = sealed.length - kTagBytes;
  // The tag is copied: OpenSSL takes it through a non-const pointer.
  uint8_t tag[kTagBytes];
  for (size_t i = 0; i < kTagBytes; i++) tag[i] = sealed.data[body + i];
  EVP_CIPHER_CTX* ctx = contexts->open[cipher];
  int written = 0, final_written = 0;
  const bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, key.data, nonce.data) == 1 &&
                  EVP_DecryptUpdate(ctx, out.data, &written, sealed.data, static_cast<int>(body)) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag) == 1 &&
                  EVP_DecryptFinal_ex(ctx, out.data + written, &final_written) == 1 && static_cast<size_t>(written + final_written) == body;
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

bool HardwareAes() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#else
  return false;
#endif
}

}  // namespace

NAPI_MODULE_INIT() {
  auto* contexts = new Contexts();
  bool ready = true;
  for (int i = 0; i < kCiphers && ready; i++) {
    contexts->ciphers[i] = EVP_CIPHER_fetch(nullptr, kCipherNames[i], nullptr);
    contexts->seal[i] = EVP_CIPHER_CTX_new();
    contexts->open[i] = EVP_CIPHER_CTX_new();
    ready = contexts->ciphers[i] != nullptr && contexts->seal[i] != nullptr && contexts->open[i] != nullptr &&
            EVP_EncryptInit_ex(contexts->seal[i], contexts->ciphers[i], nullptr, nullptr, nullptr) == 1 &&
            EVP_DecryptInit_ex(contexts->open[i], contexts->ciphers[i], nullptr, nullptr, nullptr) == 1;
  }
  if (!ready || napi_set_instance_data(env, contexts, FreeContexts, nullptr) != napi_ok) {
    FreeContexts(env, contexts, nullptr);
    napi_throw_error(env, "E_CRYPTO", "OpenSSL in this Node has no AES-256-GCM or ChaCha20-Poly1305");
    return nullptr;
  }
  napi_value seal, open, hardware_aes;
  napi_create_function(env, "seal", NAPI_AUTO_LENGTH, Seal, nullptr, &seal);
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, nullptr, &open);
  napi_get_boolean(env, HardwareAes(), &hardware_aes);
  napi_set_named_property(env, exports, "seal", seal);
  napi_set_named_property(env, exports, "open", open);
  napi_set_named_property(env, exports, "hardwareAes", hardware_aes);
  return exports;
}
