// Placeholder until the agent lands (issue 4); replaced by the real agent.
export async function runAgent(_argv: string[]): Promise<void> {
  throw new Error('the agent is not built yet');
}
