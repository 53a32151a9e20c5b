// Placeholder until the webhook lands (issue 3); replaced by the real server.
export async function runWebhook(_argv: string[]): Promise<void> {
  throw new Error('the webhook is not built yet');
}
