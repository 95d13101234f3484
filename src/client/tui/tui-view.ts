/**
 * The full-screen UI's side of the View interface: events from the controller go into the model,
 * and a redraw is requested (never done on the spot: a burst of events costs one render).
 */
import type { StatusLine, View, ViewEvent } from '../view.ts';
import type { ChatModel } from './model.ts';

export interface TuiViewHooks {
  /** Redraw soon. */
  changed(): void;
  bell(): void;
  askSecret(prompt: string): Promise<string>;
  exit(code: number): void;
}

export class TuiView implements View {
  constructor(
    private readonly model: ChatModel,
    private readonly hooks: TuiViewHooks,
  ) {}

  show(event: ViewEvent): void {
    const effects = this.model.apply(event);
    if (effects.bell) this.hooks.bell();
    this.hooks.changed();
  }

  status(status: StatusLine): void {
    this.model.status = status;
    this.hooks.changed();
  }

  askSecret(prompt: string): Promise<string> {
    return this.hooks.askSecret(prompt);
  }

  exit(code: number): void {
    this.hooks.exit(code);
  }
}
