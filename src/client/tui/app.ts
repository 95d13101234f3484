/**
 * The full-screen client: login screen, then the chat screen, on one blessed screen. Keyboard and
 * socket events share the one event loop; nothing here waits on the network while keys wait.
 * `runTui` is what `parley` starts when stdin and stdout are terminals.
 */
import { ChatController } from '../controller.ts';
import type { ParleyClient, TrustEvent } from '../connection.ts';
import { ParleyError, toParleyError } from '../../protocol/errors.ts';
import type { GroupInfo, GroupMember } from '../../protocol/messages.ts';
import { onQuitSignals, politeQuit } from '../signals.ts';
import { showKeyWarning } from './key-warning.ts';
import { KeyDecoder, type KeyAction, type KeyInfo } from './keys.ts';
import { LoginForm } from './login-form.ts';
import { LoginScreen } from './login-screen.ts';
import { MainScreen } from './main-screen.ts';
import { ChatModel } from './model.ts';
import { RenderScheduler } from './scheduler.ts';
import { createScreen, hideCursor, placeCursor, type Screen } from './screen.ts';
import { TuiView } from './tui-view.ts';

export interface TuiOptions {
  /** Log in as this user at start: resumes a saved session, else fills in the login form. */
  user?: string;
  /** Password source (--password-file): tried once for `user` before the form is shown. */
  password?: () => Promise<string>;
  /** A screen to draw on (tests pass one on PassThrough streams); default: the terminal. */
  screen?: Screen;
  /** Called once the terminal is restored; default: process.exit. */
  exit?: (code: number) => void;
}

/** Errors after which the server must not be used: shown on the warning screen. */
const KEY_ERRORS = new Set(['E_SERVER_KEY_CHANGED', 'E_SERVER_KEY_REFUSED']);
/** Saved messages shown per conversation when the client starts. */
const RESTORED_LINES = 50;
/** Presence events come in bursts (a server restart): refresh the online list once after them. */
const WHO_REFRESH_MS = 300;
/** A group's member list is fetched this long after it gets focus or news, once per burst. */
const MEMBERS_REFRESH_MS = 150;

export class TuiApp {
  readonly model = new ChatModel();
  readonly scheduler: RenderScheduler;
  readonly controller: ChatController;
  readonly form: LoginForm;
  readonly login: LoginScreen;
  readonly main: MainScreen;
  private readonly keys = new KeyDecoder();
  private trust: TrustEvent | null = null;
  private warning = false;
  private restored = false;
  private exited = false;
  private whoTimer: NodeJS.Timeout | null = null;
  private membersTimer: NodeJS.Timeout | null = null;
  /** The conversation focused at the last render: a newly focused group fetches its members. */
  private lastFocus: string | null = null;
  private finished!: () => void;
  readonly done: Promise<void>;

  constructor(
    readonly client: ParleyClient,
    readonly screen: Screen,
    private readonly options: TuiOptions = {},
  ) {
    this.done = new Promise((resolve) => (this.finished = resolve));
    this.scheduler = new RenderScheduler(() => this.render());
    const view = new TuiView(this.model, {
      changed: () => this.scheduler.request(),
      bell: () => this.screen.program.bell(),
      askSecret: (prompt) => this.main.askSecret(prompt),
      exit: (code) => this.exit(code),
    });
    this.controller = new ChatController(client, view, { focus: () => this.model.focusTarget(), password: options.password });
    this.form = new LoginForm(options.user ?? '');
    this.login = new LoginScreen(screen, this.form, () => ({ address: client.address, trust: this.trust, connection: this.connectionText() }));
    this.main = new MainScreen(screen, this.model, {
      run: (line) => void this.controller.run(line),
      quit: () => this.quit(),
      changed: () => this.scheduler.request(),
      bell: () => this.screen.program.bell(),
    });

    client.on('trust', (trust) => (this.trust = trust));
    client.on('state', (_state, detail) => {
      this.model.statusDetail = detail;
      this.scheduler.request();
    });
    client.on('login', () => {
      this.enterMain();
      this.refreshWho();
      this.refreshGroups();
      // The conversations of earlier runs, from the local copy, before the server says anything.
      if (!this.restored) void this.restoreLocalHistory(view);
    });
    client.on('presence', () => this.refreshWhoSoon());
    // Someone joined, left or was removed: the member list of the group in view is fetched again.
    client.on('group_event', (event) => {
      if (this.focusedGroup() === event.group) this.refreshMembersSoon();
    });
    // A reconnect that meets a different server key stops there; the user must see why.
    client.on('error', (err) => {
      if (KEY_ERRORS.has(err.code) && !this.warning) void this.warn(err);
    });
    screen.on('keypress', (ch: string | undefined, key: KeyInfo) => this.onKey(ch, key));
    screen.on('resize', () => {
      this.main.place();
      this.scheduler.request();
    });
    screen.on('render', () => this.placeCursor());
  }

  /** Loads the newest saved messages of each conversation this user had, once per run. */
  private async restoreLocalHistory(view: TuiView): Promise<void> {
    const data = this.client.data;
    if (!data) return;
    this.restored = true;
    try {
      for (const peer of await data.peers()) {
        const recent = await data.recent(peer, RESTORED_LINES);
        if (recent.length === 0) continue;
        view.show({ kind: 'history', with: peer, messages: recent.map((m, seq) => ({ ...m, seq })), more: false, local: true, ts: Date.now() });
      }
    } catch {
      // The local copy is a convenience; /history asks the server.
    }
  }

  private connectionText(): string {
    switch (this.client.state) {
      case 'connected':
        return 'connected';
      case 'connecting':
      case 'handshaking':
        return `connecting to ${this.client.address}…`;
      case 'reconnecting':
        return 'reconnecting…';
      default:
        return 'not connected';
    }
  }

  /** Draws the active screen; only the render scheduler calls this. */
  private render(): void {
    if (this.exited || this.warning) return;
    if (this.model.focused.id !== this.lastFocus) {
      this.lastFocus = this.model.focused.id;
      if (this.focusedGroup() !== null) this.refreshMembersSoon();
    }
    if (this.main.visible) this.main.draw();
    else this.login.draw();
    this.screen.render();
  }

  private placeCursor(): void {
    const at = this.main.visible ? this.main.cursor() : this.login.visible ? this.login.cursor() : null;
    if (at) placeCursor(this.screen, at.row, at.col);
    else hideCursor(this.screen);
  }

  private onKey(ch: string | undefined, key: KeyInfo): void {
    if (this.exited || this.warning) return;
    const action = this.keys.decode(ch, key);
    if (!action) return;
    if (this.main.visible) this.main.handle(action);
    else this.onLoginKey(action);
  }

  // ---- start and the login screen ----------------------------------------------------------

  /** Connects, resumes or logs in when it can, and otherwise shows the login form. */
  async start(): Promise<void> {
    this.login.show();
    this.scheduler.request();
    if (!(await this.connect())) return;
    const user = this.options.user;
    if (!user) return;
    try {
      if (await this.client.resumeSaved(user)) return;
      if (this.options.password) {
        this.form.busy = true;
        await this.client.login(user, await this.options.password());
      }
    } catch (err) {
      this.form.fail(err, this.client.address);
      this.scheduler.request();
    }
  }

  /** Connects if needed; errors land on the form (or the warning screen). False when not connected. */
  private async connect(): Promise<boolean> {
    if (this.client.state === 'connected') return true;
    this.scheduler.request();
    try {
      await this.client.connect();
      this.scheduler.request();
      return true;
    } catch (err) {
      const error = toParleyError(err);
      if (KEY_ERRORS.has(error.code)) await this.warn(error);
      else this.form.fail(error, this.client.address);
      this.scheduler.request();
      return false;
    }
  }

  private async warn(error: ParleyError): Promise<void> {
    this.warning = true;
    this.scheduler.cancel();
    this.login.hide();
    this.main.hide();
    hideCursor(this.screen);
    await showKeyWarning(this.screen, error, this.client.address);
    this.exit(1);
  }

  private onLoginKey(action: KeyAction): void {
    const intent = this.form.handle(action);
    this.scheduler.request();
    if (!intent) return;
    if (intent.type === 'abort') {
      this.abortLogin();
      return;
    }
    this.form.busy = true;
    this.form.error = null;
    void this.submit(intent.user, intent.password, intent.register);
  }

  private async submit(user: string, password: string, register: boolean): Promise<void> {
    if (!(await this.connect())) return;
    try {
      if (register) await this.client.register(user, password);
      else await this.client.login(user, password);
    } catch (err) {
      this.form.fail(err, this.client.address);
      this.scheduler.request();
    }
  }

  /** Esc or Ctrl+C before logging in. A key first seen in this run was never accepted: forget it. */
  private abortLogin(): void {
    const declined = this.trust?.decision === 'first-use';
    if (declined) this.client.forgetServerKey();
    this.client.close();
    this.exit(declined ? 1 : 0);
  }

  // ---- the chat screen ---------------------------------------------------------------------

  private enterMain(): void {
    if (this.main.visible) return;
    this.form.busy = false;
    this.login.hide();
    this.main.show();
    this.main.place();
    this.model.note('Type to talk in the focused conversation; @name text for a private message; Tab completes; Alt+1-9 or Ctrl+N/P switch; /help lists commands.');
    this.scheduler.request();
  }

  /** Keeps the online pane true: one /who, without printing it. */
  private refreshWho(): void {
    if (!this.client.loggedIn) return;
    this.client.who().then(
      ({ users }) => {
        this.model.setOnline(users);
        this.scheduler.request();
      },
      () => undefined, // the pane keeps what presence events told it
    );
  }

  private refreshWhoSoon(): void {
    if (this.whoTimer) return;
    this.whoTimer = setTimeout(() => {
      this.whoTimer = null;
      this.refreshWho();
    }, WHO_REFRESH_MS);
  }

  /** The groups you are in get their sidebar entries (silently, like the online list). */
  private refreshGroups(): void {
    if (!this.client.loggedIn) return;
    this.client.request<{ groups: GroupInfo[] }>({ type: 'group_list' }).then(
      ({ groups }) => {
        this.model.setGroups(groups);
        // After a reconnect the member list in view may be stale.
        if (this.focusedGroup() !== null) this.refreshMembersSoon();
        this.scheduler.request();
      },
      () => undefined, // entries still appear as group messages and events arrive
    );
  }

  /** The focused group's name, when a group you are in has focus. */
  private focusedGroup(): string | null {
    const focused = this.model.focused;
    return focused.key.kind === 'group' && !focused.left ? focused.key.name : null;
  }

  /** Fetches the focused group's members soon: one request per burst of focus changes or group news. */
  private refreshMembersSoon(): void {
    if (this.membersTimer) return;
    this.membersTimer = setTimeout(() => {
      this.membersTimer = null;
      const group = this.focusedGroup();
      if (group === null || !this.client.loggedIn) return;
      this.client.request<{ group: string; owner: string | null; members: GroupMember[] }>({ type: 'group_members', name: group }).then(
        (result) => {
          this.model.setMembers(result.group, result.owner, result.members);
          this.scheduler.request();
        },
        () => undefined, // e.g. removed meanwhile: the group event says so
      );
    }, MEMBERS_REFRESH_MS);
  }

  /** Ctrl+C (or SIGHUP, SIGTERM): leave politely (the saved session stays); a second one does not wait. */
  readonly quit = politeQuit(
    () => void this.controller.run('/quit'),
    () => this.exit(0),
  );

  /** Restores the terminal, closes the connection and ends the program. */
  exit(code: number): void {
    if (this.exited) return;
    this.exited = true;
    this.scheduler.cancel();
    if (this.whoTimer) clearTimeout(this.whoTimer);
    if (this.membersTimer) clearTimeout(this.membersTimer);
    if (this.client.state !== 'closed') this.client.close();
    this.screen.destroy();
    this.finished();
    (this.options.exit ?? ((c: number) => process.exit(c)))(code);
  }
}

/**
 * Runs the full-screen client until the user quits. Resolves once the terminal is restored
 * (the default `exit` then ends the process with the exit code).
 */
export async function runTui(client: ParleyClient, options: TuiOptions = {}): Promise<void> {
  const app = new TuiApp(client, options.screen ?? createScreen(), options);
  const unlisten = onQuitSignals(app.quit);
  try {
    await app.start();
    await app.done;
  } finally {
    unlisten();
  }
}
