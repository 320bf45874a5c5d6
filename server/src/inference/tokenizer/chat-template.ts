/**
 * Renders a conversation into the prompt text the model was trained on, using the model's own Jinja
 * chat_template through `@huggingface/jinja` (the engine transformers.js uses), so prompts match upstream.
 */
import { Template } from '@huggingface/jinja';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface RenderOptions {
  /** End with the assistant turn's opening so the model answers next. Default true. */
  addGenerationPrompt?: boolean;
}

export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

export class ChatTemplate {
  private readonly template: Template;

  /**
   * @param source the chat_template text
   * @param specialTokens values templates commonly reference: bos_token, eos_token, pad_token, unk_token
   */
  constructor(
    readonly source: string,
    private readonly specialTokens: Readonly<Record<string, string>>,
  ) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new ChatTemplateError(`The model's chat_template does not parse: ${(error as Error).message}`, { cause: error });
    }
  }

  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    try {
      return this.template.render({
        ...this.specialTokens,
        messages: messages.map((message) => ({ role: message.role, content: message.content })),
        add_generation_prompt: options.addGenerationPrompt ?? true,
      });
    } catch (error) {
      throw new ChatTemplateError(`The model's chat_template failed to render: ${(error as Error).message}`, { cause: error });
    }
  }
}
