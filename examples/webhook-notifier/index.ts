// Webhook notifier: POSTs a message to a webhook, authenticated with the project's secret
// WEBHOOK_TOKEN, and returns the status the webhook answered.
import type { Ctx } from '../../types/index.d.ts';

interface Input {
  /** Where the message goes, e.g. a chat channel the webhook knows. */
  channel: string;
  text: string;
}

const WEBHOOK_URL = 'https://hooks.example.com/v1/notify';

export default async function webhookNotifier(input: Input, ctx: Ctx): Promise<{ status: number; delivered: boolean }> {
  if (typeof input?.channel !== 'string' || typeof input.text !== 'string' || input.text === '') {
    throw new Error('input must be {"channel": string, "text": non-empty string}');
  }
  const token = ctx.secrets.WEBHOOK_TOKEN;
  // The message names the missing secret, never a value: errors are stored and voted on.
  if (!token) throw new Error('secret WEBHOOK_TOKEN is not set');

  // Every committee member sends this POST, and a run may execute twice: the idempotency key,
  // the same on every member, lets the webhook drop the repeats.
  const res = await ctx.fetch(WEBHOOK_URL, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'idempotency-key': ctx.requestId,
    },
    body: JSON.stringify({ channel: input.channel, text: input.text, requestId: ctx.requestId }),
  });
  // Log where it went and what came back; the token stays out of the logs.
  ctx.log('POST', WEBHOOK_URL, 'channel', input.channel, '→', res.status);
  return { status: res.status, delivered: res.status >= 200 && res.status < 300 };
}
