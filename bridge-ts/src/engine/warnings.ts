// What was accepted without effect is said once per process (a process
// warning), never silently dropped; the same text is in the call's result.
const said = new Set<string>();

export function warnOnce(warnings: readonly string[] | undefined): void {
  for (const warning of warnings ?? []) {
    if (said.has(warning)) continue;
    said.add(warning);
    process.emitWarning(warning, { code: 'MLX_SERVING_INERT_OPTION' });
  }
}
