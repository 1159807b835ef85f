// Secret values never reach stored logs: a run's captured lines are masked on the host, as CI systems
// mask their secrets, before they leave the executor. Only logs: the result and an error message are
// what the committee signs, so they stay as the code produced them (a secret there is the code's doing).

/** What stands for a masked value. */
export const SECRET_MASK = '***';

/** Values shorter than this are left alone: masking them would blank ordinary words and digits. */
export const MIN_MASKED_LENGTH = 4;

/** `lines` with every occurrence of a secret value replaced by `***`, longest values first. */
export function maskSecrets(lines: readonly string[], secrets: Readonly<Record<string, string>>): string[] {
  const values = [...new Set(Object.values(secrets))].filter((v) => v.length >= MIN_MASKED_LENGTH).sort((a, b) => b.length - a.length);
  if (values.length === 0 || lines.length === 0) return [...lines];
  return lines.map((line) => values.reduce((masked, value) => (masked.includes(value) ? masked.split(value).join(SECRET_MASK) : masked), line));
}
