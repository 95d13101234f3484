/**
 * The chat screen: sidebar of conversations, chat pane, online users, status bar and the input
 * line. A thin layer: the model holds the state and format.ts makes the text; this file places
 * boxes, routes keys, and draws the input line itself (blessed's textbox shows emoji as blanks).
 */
import blessed from 'blessed';
import { COMMAND_WORDS } from '../commands.ts';
import { Completer } from './complete.ts';
import { History, LineEditor } from './editor.ts';
import { escapeTags, headerText, sidebarLines, statusText, userLines, visibleLines } from './format.ts';
import type { KeyAction } from './keys.ts';
import type { ChatModel } from './model.ts';
import type { Screen } from './screen.ts';
import { truncate, stringWidth } from './width.ts';

export interface MainScreenHooks {
  /** Runs one entered line (a command or a message). */
  run(line: string): void;
  /** Ctrl+C: leave. */
  quit(): void;
  /** Something changed: redraw soon. */
  changed(): void;
  bell(): void;
}

interface Layout {
  sidebar: number;
  users: number;
  chat: number;
  rows: number;
}

/** Pane widths for a terminal `cols` wide: usable from 80x24 down to about 40 columns. */
export function layoutFor(cols: number, rows: number): Layout {
  const sidebar = cols >= 50 ? Math.max(14, Math.min(24, Math.round(cols * 0.18))) : 0;
  const users = cols >= 72 ? Math.max(12, Math.min(20, Math.round(cols * 0.16))) : 0;
  const chat = cols - sidebar - users - (sidebar ? 1 : 0) - (users ? 1 : 0);
  return { sidebar, users, chat, rows };
}

export class MainScreen {
  readonly editor = new LineEditor();
  readonly history = new History();
  private readonly completer: Completer;
  private secret: { prompt: string; resolve: (value: string) => void } | null = null;
  private readonly root: blessed.Widgets.BoxElement;
  private readonly sidebar: blessed.Widgets.BoxElement;
  private readonly header: blessed.Widgets.BoxElement;
  private readonly chat: blessed.Widgets.BoxElement;
  private readonly users: blessed.Widgets.BoxElement;
  private readonly leftRule: blessed.Widgets.BoxElement;
  private readonly rightRule: blessed.Widgets.BoxElement;
  private readonly statusBar: blessed.Widgets.BoxElement;
  private readonly input: blessed.Widgets.BoxElement;
  private layout: Layout;
  private cursorColumn = 0;

  constructor(
    private readonly screen: Screen,
    private readonly model: ChatModel,
    private readonly hooks: MainScreenHooks,
  ) {
    this.completer = new Completer({ users: () => model.knownUsers, groups: () => model.knownGroups, commands: COMMAND_WORDS });
    this.root = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: '100%', hidden: true });
    // Every box takes tags, and every string from a peer is escaped before it gets here (format.ts).
    const box = (options: blessed.Widgets.BoxOptions) => blessed.box({ parent: this.root, tags: true, wrap: false, ...options });
    this.sidebar = box({ top: 0, left: 0, style: { bg: 'black' } });
    this.leftRule = box({ top: 0, width: 1, style: { fg: 'grey' } });
    this.header = box({ top: 0, height: 1, style: { bg: 'black' } });
    this.chat = box({ top: 1, wrap: true, scrollable: true, alwaysScroll: true });
    this.rightRule = box({ top: 0, width: 1, style: { fg: 'grey' } });
    this.users = box({ top: 0, style: { bg: 'black' } });
    this.statusBar = box({ left: 0, height: 1, width: '100%', style: { bg: 'blue', fg: 'white' } });
    this.input = box({ left: 0, height: 1, width: '100%' });
    this.layout = this.place();
  }

  /** Sizes the panes for the current terminal; called again on every resize. */
  place(): Layout {
    const layout = layoutFor(this.screen.width as number, this.screen.height as number);
    const body = Math.max(1, layout.rows - 2);
    const chatLeft = layout.sidebar ? layout.sidebar + 1 : 0;
    Object.assign(this.sidebar, { left: 0, width: Math.max(1, layout.sidebar), height: body });
    this.sidebar.hidden = layout.sidebar === 0;
    Object.assign(this.leftRule, { left: layout.sidebar, height: body });
    this.leftRule.hidden = layout.sidebar === 0;
    Object.assign(this.header, { left: chatLeft, width: layout.chat });
    Object.assign(this.chat, { left: chatLeft, width: layout.chat, height: Math.max(1, body - 1) });
    Object.assign(this.rightRule, { left: chatLeft + layout.chat, height: body });
    this.rightRule.hidden = layout.users === 0;
    Object.assign(this.users, { left: chatLeft + layout.chat + 1, width: Math.max(1, layout.users), height: body });
    this.users.hidden = layout.users === 0;
    Object.assign(this.statusBar, { top: body });
    Object.assign(this.input, { top: body + 1 });
    this.layout = layout;
    return layout;
  }

  show(): void {
    this.root.show();
  }

  hide(): void {
    this.root.hide();
  }

  get visible(): boolean {
    return !this.root.hidden;
  }

  /** Fills every pane from the model. Called by the render scheduler, never per event. */
  draw(): void {
    const { sidebar, users, rows } = this.layout;
    const body = Math.max(1, rows - 2);
    if (sidebar) this.sidebar.setContent(sidebarLines(this.model, sidebar).join('\n'));
    if (users) this.users.setContent(userLines(this.model, users).join('\n'));
    const rule = Array(body).fill('│').join('\n');
    this.leftRule.setContent(rule);
    this.rightRule.setContent(rule);
    this.header.setContent(' ' + headerText(this.model));
    this.chat.setContent(visibleLines(this.model.focused, Math.max(1, body - 1), this.layout.chat).join('\n'));
    this.chat.setScrollPerc(100);
    this.statusBar.setContent(statusText(this.model, this.screen.width as number));
    this.drawInput();
  }

  private prompt(): string {
    if (this.secret) return this.secret.prompt;
    const target = this.model.focusTarget();
    if (target === '*') return '* › ';
    if (target === null) return '› ';
    return target.startsWith('#') ? `${target} › ` : `@${target} › `;
  }

  private drawInput(): void {
    const width = this.screen.width as number;
    const prompt = truncate(this.prompt(), Math.max(4, Math.floor(width / 3)));
    const promptWidth = stringWidth(prompt);
    const view = this.editor.view(Math.max(1, width - promptWidth - 1), this.secret ? '•' : undefined);
    this.input.setContent(`{bold}${escapeTags(prompt)}{/bold}${escapeTags(view.text)}`);
    this.cursorColumn = promptWidth + view.cursor;
  }

  /** Where the terminal cursor belongs: in the input line, after what is typed. */
  cursor(): { row: number; col: number } {
    return { row: (this.screen.height as number) - 1, col: this.cursorColumn };
  }

  /** Reads a secret (a password for /login or /register) in the input line, masked. */
  askSecret(prompt: string): Promise<string> {
    this.secret?.resolve('');
    this.editor.clear();
    this.hooks.changed();
    return new Promise((resolve) => {
      this.secret = { prompt, resolve };
    });
  }

  /** Handles one key. */
  handle(action: KeyAction): void {
    if (action.type !== 'tab' && action.type !== 'backtab') this.completer.reset();
    switch (action.type) {
      case 'enter':
        this.enter();
        break;
      case 'tab':
      case 'backtab':
        if (this.secret || !this.completer.complete(this.editor, action.type === 'tab' ? 1 : -1)) this.hooks.bell();
        break;
      case 'up':
      case 'down': {
        if (this.secret) break;
        const line = action.type === 'up' ? this.history.previous(this.editor.value) : this.history.next();
        if (line !== null) this.editor.set(line);
        break;
      }
      case 'page-up':
      case 'page-down': {
        const page = Math.max(1, (this.chat.height as number) - 2);
        this.model.scrollBy(action.type === 'page-up' ? page : -page);
        break;
      }
      case 'switch':
        if (!this.model.focusIndex(action.index)) this.hooks.bell();
        break;
      case 'next':
      case 'previous':
        this.model.cycle(action.type === 'next' ? 1 : -1);
        break;
      case 'escape':
        if (this.secret) this.finishSecret('');
        else this.model.scrollBy(-this.model.focused.scroll); // back to the newest lines
        break;
      case 'quit':
        this.hooks.quit();
        return;
      case 'redraw':
        this.screen.realloc();
        break;
      default:
        this.editor.apply(action);
    }
    this.hooks.changed();
  }

  private finishSecret(value: string): void {
    const secret = this.secret!;
    this.secret = null;
    this.editor.clear();
    secret.resolve(value);
  }

  private enter(): void {
    if (this.secret) {
      this.finishSecret(this.editor.value);
      return;
    }
    const line = this.editor.value;
    if (!line.trim()) return;
    this.history.push(line);
    this.editor.clear();
    this.model.scrollBy(-this.model.focused.scroll);
    this.hooks.run(line);
  }
}
