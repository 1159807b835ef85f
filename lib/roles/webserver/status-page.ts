// The status page served at `/`: one self-contained HTML document that polls `/v1/status`.

export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gateway status</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
  body { margin: 0; padding: 24px; }
  h1 { font-size: 20px; margin: 0 0 16px; }
  h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .05em; color: #5b6475; margin: 0 0 8px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; margin-bottom: 16px; }
  .card { background: #fff; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
  .figure { font-size: 26px; font-weight: 600; }
  .label { color: #5b6475; font-size: 12px; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #eceef2; white-space: nowrap; }
  td.mono { font-family: ui-monospace, monospace; font-size: 12px; }
  .badge { display: inline-block; border-radius: 10px; padding: 1px 8px; font-size: 12px; }
  .published, .active { background: #dff5e3; color: #176b2c; }
  .failed, .removed { background: #fde2e1; color: #9b1c1c; }
  .code-failed { background: #fff0d6; color: #8a4b00; }
  a.mono { font-family: ui-monospace, monospace; font-size: 12px; color: #1e4597; }
  .queued, .assigned, .agreed { background: #e4ecfb; color: #1e4597; }
  #error { color: #9b1c1c; }
  .warning { background: #fff4d6; color: #7a4b00; border-radius: 8px; padding: 10px 14px; margin: 0 0 16px; }
</style>
</head>
<body>
<h1>Gateway status <span class="label" id="updated"></span></h1>
<p id="error"></p>
<p class="warning" id="memory-warning" hidden></p>
<p class="label mono" id="counter-key"></p>
<div class="grid">
  <div class="card"><div class="label">Round</div><div class="figure" id="round">–</div><div class="label" id="round-detail"></div></div>
  <div class="card"><div class="label">Active nodes</div><div class="figure" id="nodes-active">–</div><div class="label" id="nodes-detail"></div></div>
  <div class="card"><div class="label">Finished per second (last minute)</div><div class="figure" id="throughput">–</div></div>
  <div class="card"><div class="label">Ledger length</div><div class="figure" id="ledger">–</div><div class="label mono" id="ledger-head"></div></div>
  <div class="card"><div class="label">Redis memory</div><div class="figure" id="memory">–</div><div class="label" id="memory-detail"></div></div>
  <div class="card"><div class="label">Failures (recent)</div><div class="figure" id="failures">–</div><div class="label" id="failure-codes"></div></div>
  <div class="card"><div class="label">Code failed (recent, agreed)</div><div class="figure" id="code-failures">–</div><div class="label">published with ok: false</div></div>
</div>
<div class="card" style="margin-bottom:16px"><h2>Nodes</h2>
  <table><thead><tr><th>Node</th><th>Name</th><th>Status</th><th>Last ticket</th></tr></thead><tbody id="nodes"></tbody></table></div>
<div class="card" style="margin-bottom:16px" id="dissent-card" hidden><h2>Nodes that disagree</h2>
  <table><thead><tr><th>Node</th><th>Votes</th><th>Disagreed</th><th>Late</th><th>Missed</th></tr></thead><tbody id="dissent"></tbody></table></div>
<div class="card"><h2>Recent requests</h2>
  <table><thead><tr><th>Request</th><th>Project</th><th>Source</th><th>Status</th><th>Accepted</th><th>Took</th></tr></thead><tbody id="requests"></tbody></table></div>
<script>
const text = (value) => document.createTextNode(value === undefined || value === null ? '' : String(value));
function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell && cell.badge) {
      const span = document.createElement('span');
      span.className = 'badge ' + cell.badge;
      span.appendChild(text(cell.label));
      td.appendChild(span);
    } else if (cell && cell.href) {
      const a = document.createElement('a');
      a.href = cell.href;
      a.className = 'mono';
      a.appendChild(text(cell.mono));
      td.appendChild(a);
    } else {
      if (cell && cell.mono) td.className = 'mono';
      td.appendChild(text(cell && cell.mono ? cell.mono : cell));
    }
    tr.appendChild(td);
  }
  return tr;
}
function fill(id, rows) {
  const body = document.getElementById(id);
  body.replaceChildren(...rows);
}
async function refresh() {
  try {
    const response = await fetch('/v1/status', { cache: 'no-store' });
    if (!response.ok) throw new Error('status ' + response.status);
    const s = await response.json();
    document.getElementById('error').textContent = '';
    document.getElementById('updated').textContent = 'updated ' + new Date(s.now).toLocaleTimeString();
    document.getElementById('round').textContent = s.round ? s.round.round : 'none yet';
    document.getElementById('round-detail').textContent = s.round ? s.round.tickets + ' ticket(s); committees draw from ' + s.round.eligible + ' node(s)' : 'the scheduler has not started a round';
    const active = s.nodes.filter((n) => n.status === 'active');
    document.getElementById('nodes-active').textContent = active.length;
    document.getElementById('nodes-detail').textContent = s.nodes.length + ' registered';
    document.getElementById('throughput').textContent = s.throughput.perSecond.toFixed(2);
    document.getElementById('ledger').textContent = s.ledger.length;
    document.getElementById('ledger-head').textContent = s.ledger.head.slice(0, 16) + '…';
    const mib = (bytes) => (bytes / 1048576).toFixed(1) + ' MiB';
    const memory = s.memory;
    document.getElementById('memory').textContent = mib(memory.usedBytes);
    document.getElementById('memory-detail').textContent = (memory.maxBytes > 0 ? 'of ' + mib(memory.maxBytes) + ' maxmemory' : 'no maxmemory set')
      + (s.retention.lagSeconds > 0 ? '; retention ' + Math.round(s.retention.lagSeconds) + ' s behind' : '');
    const warning = document.getElementById('memory-warning');
    warning.hidden = !memory.isNearLimit;
    warning.textContent = memory.isNearLimit ? 'Redis uses ' + Math.round(100 * memory.usedBytes / memory.maxBytes) + '% of its maxmemory: under noeviction it refuses every write once full. Export (gateway export, or GATEWAY_EXPORT_DIR) so retention can remove old requests, shorten GATEWAY_RETENTION_MS, or raise maxmemory.' : '';
    document.getElementById('counter-key').textContent = s.counterPublicKey ? 'counter public key (pin it to verify receipts): ' + s.counterPublicKey : '';
    const codes = Object.entries(s.failures);
    document.getElementById('failures').textContent = codes.reduce((sum, [, n]) => sum + n, 0);
    document.getElementById('failure-codes').textContent = codes.map(([code, n]) => code + ': ' + n).join(', ');
    fill('nodes', s.nodes.map((n) => row([{ mono: n.id }, n.name, { badge: n.status, label: n.status }, n.lastTicketRound ?? '–'])));
    const dissent = s.nodes.filter((n) => n.stats.disagreed + n.stats.late + n.stats.missed > 0)
      .sort((a, b) => b.stats.disagreed - a.stats.disagreed || b.stats.missed - a.stats.missed);
    document.getElementById('dissent-card').hidden = dissent.length === 0;
    fill('dissent', dissent.map((n) => row([{ mono: n.id }, n.stats.votes, n.stats.disagreed, n.stats.late, n.stats.missed])));
    document.getElementById('code-failures').textContent = s.codeFailures;
    fill('requests', s.recent.map((r) => row([
      // The request itself (its project key or the admin token is needed to read it).
      { mono: r.id, href: '/v1/requests/' + encodeURIComponent(r.id) }, { mono: r.projectId }, r.source,
      r.codeFailed ? { badge: 'code-failed', label: 'published: code failed' } : { badge: r.status, label: r.failureCode ? r.status + ': ' + r.failureCode : r.status },
      new Date(r.createdAt).toLocaleTimeString(), r.durationMs === undefined ? '' : r.durationMs + ' ms',
    ])));
  } catch (error) {
    document.getElementById('error').textContent = 'cannot load /v1/status: ' + error.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
