// Scheduled report: every five minutes (the schedule in gateway.json) reads a Statuspage summary
// and returns a short report: the overall indicator, the watched components that are not
// operational, and the open incidents.
import type { Ctx } from '../../types/index.d.ts';

interface Input {
  /** A Statuspage site, e.g. "https://www.githubstatus.com". */
  page: string;
  /** Component names to report on; all components when absent. */
  watch?: string[];
}

// The part of Statuspage's /api/v2/summary.json this report reads.
interface Summary {
  page: { name: string };
  status: { indicator: string; description: string };
  components: { name: string; status: string; group: boolean }[];
  incidents: { name: string; status: string; impact: string; shortlink: string }[];
}

export interface Report {
  page: string;
  indicator: string;
  description: string;
  watched: number;
  degraded: { name: string; status: string }[];
  incidents: { name: string; status: string; impact: string; link: string }[];
  /** The request's accepted-at time: the same on every member, so the committee can agree on it. */
  checkedAt: string;
}

export default async function scheduledReport(input: Input, ctx: Ctx): Promise<Report> {
  if (typeof input?.page !== 'string' || !/^https:\/\/[^/]+$/.test(input.page)) throw new Error('input.page must be an https origin such as "https://www.githubstatus.com"');
  const res = await ctx.fetch(`${input.page}/api/v2/summary.json`, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`status page answered ${res.status}`);
  const summary = res.json<Summary>();

  const watch = input.watch === undefined ? undefined : new Set(input.watch);
  const components = summary.components.filter((c) => !c.group && (watch === undefined || watch.has(c.name)));
  // Sorted, so members that got the same facts in another order still return the same report.
  const degraded = components
    .filter((c) => c.status !== 'operational')
    .map((c) => ({ name: c.name, status: c.status }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const incidents = summary.incidents
    .map((i) => ({ name: i.name, status: i.status, impact: i.impact, link: i.shortlink }))
    .sort((a, b) => (a.link < b.link ? -1 : a.link > b.link ? 1 : 0));
  ctx.log(`${summary.page.name}: ${summary.status.indicator}, ${degraded.length} of ${components.length} watched components degraded`);
  return {
    page: summary.page.name,
    indicator: summary.status.indicator,
    description: summary.status.description,
    watched: components.length,
    degraded,
    incidents,
    checkedAt: new Date().toISOString(),
  };
}
