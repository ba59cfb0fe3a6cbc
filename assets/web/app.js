// netlens dashboard. Everything shown here may come from packets (DNS names, HTTP hosts and
// paths, TLS SNI): it is untrusted and is only ever set as text (textContent, createElement,
// SVG text nodes), never parsed as HTML. This file uses no innerHTML at all.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // ---- formatting -------------------------------------------------------------------------

  function si(n, unit, decimal) {
    const steps = decimal ? ['', 'k', 'M', 'G', 'T', 'P'] : ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
    const base = decimal ? 1000 : 1024;
    let i = 0;
    let v = Number(n) || 0;
    while (Math.abs(v) >= base && i < steps.length - 1) { v /= base; i++; }
    const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
    return v.toFixed(digits) + ' ' + steps[i] + unit;
  }
  const fmtCount = (n) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US');
  const fmtBytes = (n) => si(n, 'B', false);
  const fmtBits = (n) => si(n, 'bit/s', true);
  const fmtPps = (n) => si(n, 'pkt/s', true);
  function fmtDuration(s) {
    s = Math.max(0, Number(s) || 0);
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = Math.floor(s % 60);
    return (h ? h + 'h ' : '') + m + 'm ' + sec + 's';
  }
  function fmtTime(ts) {
    const d = new Date(ts * 1000);
    const us = Math.floor((ts % 1) * 1e6).toString().padStart(6, '0');
    return d.toISOString().slice(11, 19) + '.' + us;
  }
  const endpoint = (ip, port) => (String(ip).includes(':') ? '[' + ip + ']' : ip) + ':' + port;

  // ---- DOM helpers (text only) -------------------------------------------------------------

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function cell(text, className) { return el('td', className, text); }
  function setText(id, text) { const e = $(id); if (e.textContent !== text) e.textContent = text; }
  // Under an empty table: why it is empty.
  function emptyNote(id, shown, filter, nothing) {
    const note = $(id);
    note.hidden = shown > 0;
    note.textContent = filter ? 'No rows match the filter.' : nothing;
  }
  const countOrDash = (n) => (n === null || n === undefined || Number.isNaN(n)) ? '–' : fmtCount(n);
  function matches(filter, parts) {
    if (!filter) return true;
    return parts.join(' ').toLowerCase().includes(filter);
  }

  // ---- state -------------------------------------------------------------------------------

  let snap = null;
  let history = null;          // the last /api/history answer, when a range is picked
  let hostSort = { key: 'bytes', asc: false };
  let chart = null;

  // ---- KPIs and header ---------------------------------------------------------------------

  function renderHeader() {
    setText('source', snap.source || '–');
    const badge = $('run-state');
    badge.textContent = snap.state;
    badge.className = 'badge ' + snap.state;
    setText('updated', 'updated ' + new Date().toLocaleTimeString());
    $('partial-note').hidden = !snap.partial;
    for (const opt of $('range').querySelectorAll('option[data-history]')) {
      opt.disabled = !snap.history;
    }
  }

  function renderKpis() {
    if (history) {
      setText('kpi-packets', fmtCount(history.packets));
      setText('kpi-bytes', fmtBytes(history.bytes));
      setText('kpi-duration', fmtDuration(history.duration_secs));
      setText('kpi-pps-label', 'Avg packets/s');
      setText('kpi-bps-label', 'Avg bits/s');
      setText('kpi-pps', fmtPps(history.avg_pps));
      setText('kpi-bps', fmtBits(history.avg_bps));
      setText('kpi-flows-label', 'Flows');
      setText('kpi-flows', fmtCount(history.flows && history.flows.records));
      // The history report lists top talkers, not a host count.
      setText('kpi-hosts', '–');
      setText('kpi-drops', fmtCount((history.captures || []).reduce((a, c) => a + (c.drops || 0), 0)));
      return;
    }
    const running = snap.state === 'running';
    setText('kpi-packets', fmtCount(snap.packets));
    setText('kpi-bytes', fmtBytes(snap.bytes));
    setText('kpi-duration', fmtDuration(snap.duration_secs));
    setText('kpi-pps-label', running ? 'Packets/s' : 'Avg packets/s');
    setText('kpi-bps-label', running ? 'Bits/s' : 'Avg bits/s');
    setText('kpi-pps', fmtPps(snap.pps));
    setText('kpi-bps', fmtBits(snap.bps));
    setText('kpi-flows-label', 'Active flows');
    setText('kpi-flows', fmtCount(snap.active_flows));
    setText('kpi-hosts', fmtCount(snap.hosts));
    const d = snap.drops || {};
    setText('kpi-drops', fmtCount((d.kernel || 0) + (d.interface || 0) + (d.internal || 0)));
  }

  // ---- bars --------------------------------------------------------------------------------

  function bars(id, rows, emptyText) {
    const box = $(id);
    const frag = document.createDocumentFragment();
    const max = Math.max(1, ...rows.map((r) => r.value));
    for (const r of rows) {
      const row = el('div', 'bar-row');
      row.title = r.title || r.label;
      const label = el('div', 'bar-label', r.label);
      if (r.sub) label.appendChild(el('span', 'sub', ' ' + r.sub));
      const track = el('div', 'bar-track');
      const fill = el('div', 'bar-fill' + (r.kind ? ' ' + r.kind : ''));
      fill.style.width = (100 * r.value / max).toFixed(1) + '%';
      track.appendChild(fill);
      row.append(label, track, el('div', 'bar-value', r.text));
      frag.appendChild(row);
    }
    if (!rows.length) frag.appendChild(el('p', 'empty', emptyText));
    box.replaceChildren(frag);
  }

  function renderMix() {
    if (history) {
      const p = history.protocols || {};
      bars('protocols', Object.keys(p).map((k) => ({ label: k, value: p[k], text: fmtCount(p[k]) + ' pkts' })),
        'No traffic in this range.');
      bars('apps', (history.apps || []).map((a) => ({ label: a.app, value: a.bytes, text: fmtBytes(a.bytes) })),
        'No flows in this range.');
      return;
    }
    const protos = (snap.protocols || []).filter((p) => p.packets > 0);
    bars('protocols', protos.map((p) => ({
      label: p.name, value: p.packets, text: fmtCount(p.packets) + ' pkts',
      title: p.name + ': ' + fmtCount(p.packets) + ' packets, ' + fmtBytes(p.bytes),
    })), 'No packets yet.');
    const apps = (snap.apps || []).filter((a) => a.packets > 0);
    bars('apps', apps.map((a) => ({
      label: a.name, value: a.packets, text: fmtCount(a.packets) + ' pkts',
    })), 'No application payloads recognised yet.');
  }

  function hostLabel(h) { return h.names && h.names.length ? h.names[0] : ''; }

  function renderTalkers() {
    if (history) {
      const t = history.top_talkers || [];
      const rows = t.map((h) => ({
        label: h.ip, sub: h.names || '', value: h.bytes_out, text: fmtBytes(h.bytes_out),
        kind: h.local ? 'local' : 'remote',
      }));
      bars('top-sources', rows.filter((r) => r.value > 0).sort((a, b) => b.value - a.value),
        'No traffic in this range.');
      bars('top-destinations', t.map((h) => ({
        label: h.ip, sub: h.names || '', value: h.bytes_in, text: fmtBytes(h.bytes_in),
        kind: h.local ? 'local' : 'remote',
      })).filter((r) => r.value > 0).sort((a, b) => b.value - a.value), 'No traffic in this range.');
      return;
    }
    bars('top-sources', (snap.top_sources || []).filter((h) => h.bytes_out > 0).map((h) => ({
      label: h.ip, sub: hostLabel(h), value: h.bytes_out, text: fmtBytes(h.bytes_out),
      kind: h.local ? 'local' : 'remote', title: h.ip + ' ' + (h.names || []).join(', '),
    })), snap.partial ? 'Not known: the accounting threads did not answer.' : 'No hosts yet.');
    bars('top-destinations', (snap.top_destinations || []).filter((h) => h.bytes_in > 0).map((h) => ({
      label: h.ip, sub: hostLabel(h), value: h.bytes_in, text: fmtBytes(h.bytes_in),
      kind: h.local ? 'local' : 'remote', title: h.ip + ' ' + (h.names || []).join(', '),
    })), snap.partial ? 'Not known: the accounting threads did not answer.' : 'No hosts yet.');
  }

  // ---- alerts ------------------------------------------------------------------------------

  function renderAlerts() {
    const alerts = (history && history.alerts ? history.alerts.recent : snap.alerts) || [];
    const list = $('alerts');
    const frag = document.createDocumentFragment();
    for (const a of alerts.slice(0, 50)) {
      const li = el('li');
      li.append(el('span', 'sev ' + String(a.severity).toLowerCase(), a.severity),
        el('span', '', a.detector + ': ' + a.summary + (a.count > 1 ? ' ×' + a.count : '')));
      li.title = fmtTime(a.ts) + ' ' + (a.src || '') + ' → ' + (a.dst || '');
      frag.appendChild(li);
    }
    list.replaceChildren(frag);
    $('alerts-empty').hidden = alerts.length > 0;
  }

  // ---- timeline ----------------------------------------------------------------------------

  function chartSize() {
    const w = $('timeline').clientWidth || 800;
    return { width: w, height: 240 };
  }

  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.1 : 1];

  function makeChart() {
    const opts = Object.assign(chartSize(), {
      cursor: { drag: { x: false, y: false } },
      // Rates start at zero: an axis from 290 to 300 makes noise look like a cliff.
      scales: { x: { time: true }, pps: { range: fromZero }, bps: { range: fromZero } },
      axes: [
        // Whole seconds at least: points are per second, so sub-second ticks mean nothing.
        { stroke: '#8595a6', grid: { stroke: '#1e2731' }, ticks: { stroke: '#26313d' },
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 604800] },
        { scale: 'pps', stroke: '#4fb3ff', grid: { stroke: '#1e2731' }, size: 60,
          values: (u, vals) => vals.map((v) => si(v, '', true).trim()) },
        { scale: 'bps', side: 1, stroke: '#ffb454', grid: { show: false }, size: 70,
          values: (u, vals) => vals.map((v) => si(v, 'b', true)) },
      ],
      series: [
        {},
        { label: 'packets/s', scale: 'pps', stroke: '#4fb3ff', width: 2, fill: 'rgba(79,179,255,0.12)',
          value: (u, v) => v === null ? '–' : fmtPps(v) },
        { label: 'bits/s', scale: 'bps', stroke: '#ffb454', width: 2,
          value: (u, v) => v === null ? '–' : fmtBits(v) },
      ],
    });
    chart = new uPlot(opts, [[], [], []], $('timeline'));
    window.addEventListener('resize', () => chart.setSize(chartSize()));
  }

  // Points are intervals with traffic; quiet intervals are absent, so fill them with zeros to
  // draw silence as silence rather than as a line between two busy moments.
  function toColumns(points, step) {
    const xs = [], pps = [], bps = [];
    let prev = null;
    for (const p of points) {
      if (prev !== null && p.t - prev > step && p.t - prev <= 3600 * step) {
        for (let t = prev + step; t < p.t; t += step) { xs.push(t); pps.push(0); bps.push(0); }
      }
      xs.push(p.t); pps.push(p.packets / step); bps.push(p.bytes * 8 / step);
      prev = p.t;
    }
    return [xs, pps, bps];
  }

  function renderTimeline() {
    if (!chart && typeof uPlot !== 'undefined') makeChart();
    let points, step;
    if (history) {
      points = (history.series && history.series.points) || [];
      step = history.series && history.series.resolution === 'minute' ? 60 : 1;
    } else {
      points = snap.series || [];
      step = 1;
      // While packets arrive the newest second is still filling: drawing it would show a drop
      // that is not there.
      if (snap.state === 'running' && points.length > 1) points = points.slice(0, -1);
    }
    $('timeline-empty').hidden = points.length > 0;
    const columns = toColumns(points, step);
    // The point count is on the element for tests and scripts that read the page.
    $('timeline').dataset.points = String(columns[0].length);
    if (chart) chart.setData(columns);
  }

  // ---- network map -------------------------------------------------------------------------

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function renderMap() {
    const edges = history ? [] : (snap.edges || []);
    const nodes = new Map();
    const add = (ip, local, name, bytes) => {
      const n = nodes.get(ip) || { ip, local, name, bytes: 0 };
      n.bytes += bytes;
      if (!n.name && name) n.name = name;
      nodes.set(ip, n);
    };
    for (const e of edges) {
      add(e.a, e.a_local, e.a_name, e.bytes);
      add(e.b, e.b_local, e.b_name, e.bytes);
    }
    // Local hosts on an inner ring, remote ones outside: which side of the network each host
    // is on reads at a glance.
    const W = 400, H = 300, cx = W / 2, cy = H / 2;
    const local = [...nodes.values()].filter((n) => n.local).sort((a, b) => b.bytes - a.bytes);
    const remote = [...nodes.values()].filter((n) => !n.local).sort((a, b) => b.bytes - a.bytes);
    // Busiest first, each the next slot a third of the ring away, so the labelled (busiest)
    // hosts spread around the ring instead of bunching on one side.
    const gcd = (a, b) => (b ? gcd(b, a % b) : a);
    const place = (list, rx, ry, phase) => list.forEach((n, i) => {
      let stride = Math.max(1, Math.round(list.length / 3));
      while (gcd(stride, list.length) !== 1) stride++;
      const slot = (i * stride) % Math.max(1, list.length);
      const a = phase + 2 * Math.PI * slot / Math.max(1, list.length);
      n.x = cx + rx * Math.cos(a);
      n.y = cy + ry * Math.sin(a);
    });
    if (local.length === 1) { local[0].x = cx; local[0].y = cy; } else place(local, 70, 50, 0);
    place(remote, 120, 122, Math.PI / Math.max(2, remote.length));
    const maxEdge = Math.max(1, ...edges.map((e) => e.bytes));
    const maxNode = Math.max(1, ...[...nodes.values()].map((n) => n.bytes));
    const frag = document.createDocumentFragment();
    for (const e of edges) {
      const a = nodes.get(e.a), b = nodes.get(e.b);
      const line = svg('line', {
        x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1),
        'stroke-width': (0.5 + 5 * Math.sqrt(e.bytes / maxEdge)).toFixed(2),
      });
      line.appendChild(svg('title', {}, e.a + ' ⇄ ' + e.b + ': ' + fmtBytes(e.bytes)));
      frag.appendChild(line);
    }
    // Labels for the busiest hosts only, so the names stay readable.
    const labelled = new Set([...nodes.values()].sort((a, b) => b.bytes - a.bytes).slice(0, 12).map((n) => n.ip));
    for (const n of nodes.values()) {
      const g = svg('g', {});
      g.appendChild(svg('circle', {
        cx: n.x.toFixed(1), cy: n.y.toFixed(1), r: (3 + 6 * Math.sqrt(n.bytes / maxNode)).toFixed(1),
        class: n.local ? 'local' : 'remote',
      }));
      if (labelled.has(n.ip)) {
        const label = n.name || n.ip;
        const left = n.x < cx - 20;
        g.appendChild(svg('text', {
          x: (n.x + (left ? -8 : 8)).toFixed(1), y: (n.y + 3).toFixed(1),
          'text-anchor': left ? 'end' : 'start',
        }, label.length > 18 ? label.slice(0, 17) + '…' : label));
      }
      g.appendChild(svg('title', {}, n.ip + (n.name ? ' (' + n.name + ')' : '') + ': ' + fmtBytes(n.bytes)));
      frag.appendChild(g);
    }
    if (!edges.length) {
      frag.appendChild(svg('text', { x: 20, y: 30 }, history ? 'The map shows the live run.' : 'No IP traffic yet.'));
    }
    $('map').replaceChildren(frag);
  }

  // ---- tables ------------------------------------------------------------------------------

  function hostRows() {
    if (history) {
      return (history.top_talkers || []).map((h) => ({
        // The history stores a host's names as one comma-separated text.
        ip: h.ip, names: h.names ? h.names.split(',') : [], local: h.local,
        bytes_in: h.bytes_in, bytes_out: h.bytes_out, packets_in: h.packets_in,
        packets_out: h.packets_out, flows_initiated: null, flows_accepted: null, peers: null,
      }));
    }
    return snap.host_table || [];
  }

  const hostKeys = {
    ip: (h) => h.ip,
    names: (h) => (h.names || []).join(' '),
    bytes_in: (h) => h.bytes_in,
    bytes_out: (h) => h.bytes_out,
    bytes: (h) => h.bytes_in + h.bytes_out,
    packets: (h) => h.packets_in + h.packets_out,
    flows: (h) => h.flows_initiated + h.flows_accepted,
    peers: (h) => h.peers,
  };

  function renderHosts() {
    const filter = $('hosts-filter').value.trim().toLowerCase();
    const key = hostKeys[hostSort.key] || hostKeys.bytes;
    const rows = hostRows()
      .filter((h) => matches(filter, [h.ip, ...(h.names || [])]))
      .sort((a, b) => {
        const x = key(a), y = key(b);
        const c = typeof x === 'string' ? x.localeCompare(y) : x - y;
        return hostSort.asc ? c : -c;
      });
    const frag = document.createDocumentFragment();
    for (const h of rows) {
      const tr = el('tr');
      const ipCell = cell(h.ip);
      ipCell.appendChild(el('span', 'tag ' + (h.local ? 'local' : 'remote'), h.local ? 'local' : 'remote'));
      tr.append(ipCell, cell((h.names || []).join(', ')),
        cell(fmtBytes(h.bytes_in), 'num'), cell(fmtBytes(h.bytes_out), 'num'),
        cell(fmtCount(h.packets_in + h.packets_out), 'num'),
        cell(countOrDash(h.flows_initiated === null ? null : h.flows_initiated + h.flows_accepted), 'num'),
        cell(countOrDash(h.peers), 'num'));
      frag.appendChild(tr);
    }
    $('hosts-body').replaceChildren(frag);
    emptyNote('hosts-empty', rows.length, filter, snap.partial ? 'Not known: the accounting threads did not answer.' : 'No hosts yet.');
    for (const th of document.querySelectorAll('#hosts th[data-sort]')) {
      th.classList.toggle('sorted', th.dataset.sort === hostSort.key);
      th.classList.toggle('asc', th.dataset.sort === hostSort.key && hostSort.asc);
    }
  }

  function renderFlows() {
    const filter = $('flows-filter').value.trim().toLowerCase();
    setText('flows-title', history ? 'Largest flows in the range' : 'Active connections');
    const flows = history ? (history.top_flows || []).map((f) => ({
      protocol: f.protocol, client: f.client, client_port: f.client_port, server: f.server,
      server_port: f.server_port, state: f.tcp_state, app: f.app, name: f.name,
      packets: f.packets, bytes: f.bytes, bps: f.bytes * 8 / Math.max(1, f.end - f.start),
    })) : (snap.flows || []);
    const frag = document.createDocumentFragment();
    let shown = 0;
    for (const f of flows) {
      const client = endpoint(f.client, f.client_port), server = endpoint(f.server, f.server_port);
      if (!matches(filter, [f.protocol, client, server, f.state, f.app, f.name || ''])) continue;
      const tr = el('tr');
      tr.append(cell(f.protocol), cell(client), cell(server), cell(f.state === 'none' ? '–' : f.state),
        cell(f.app), cell(f.name || ''), cell(fmtCount(f.packets), 'num'),
        cell(fmtBytes(f.bytes), 'num'), cell(fmtBits(f.bps), 'num'));
      frag.appendChild(tr);
      shown++;
    }
    $('flows-body').replaceChildren(frag);
    emptyNote('flows-empty', shown, filter, snap.partial ? 'Not known: the accounting threads did not answer.' : 'No connections.');
  }

  function renderPackets() {
    const filter = $('packets-filter').value.trim().toLowerCase();
    const lines = (snap.recent_packets || []).slice().reverse();
    const frag = document.createDocumentFragment();
    let shown = 0;
    for (const p of lines) {
      if (!matches(filter, [p.proto, p.summary])) continue;
      const tr = el('tr');
      tr.append(cell(fmtTime(p.ts)), cell(p.proto), cell(p.len, 'num'), cell(p.summary, 'wrap'));
      frag.appendChild(tr);
      shown++;
    }
    $('packets-body').replaceChildren(frag);
    emptyNote('packets-empty', shown, filter,
      snap.state === 'history' ? 'Recent packets are shown during a capture.' : 'No packets yet.');
  }

  // ---- data flow ---------------------------------------------------------------------------

  function render() {
    if (!snap) return;
    renderHeader();
    renderKpis();
    renderMix();
    renderTalkers();
    renderAlerts();
    renderTimeline();
    renderMap();
    renderHosts();
    renderFlows();
    renderPackets();
  }

  async function loadHistory(range) {
    if (range === 'live') { history = null; render(); return; }
    const q = range === 'all' ? '' : '?since=' + encodeURIComponent(range);
    try {
      const r = await fetch('api/history' + q, { credentials: 'same-origin' });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      history = body;
    } catch (e) {
      const badge = $('run-state');
      badge.textContent = 'history: ' + e.message;
      badge.className = 'badge error';
      return;
    }
    render();
  }

  function connect() {
    const source = new EventSource('api/stream');
    source.addEventListener('snapshot', (e) => {
      const first = snap === null;
      snap = JSON.parse(e.data);
      if (first && snap.state === 'history') {
        // `netlens serve`: there is no live run, so show the whole history.
        $('range').value = 'all';
        loadHistory('all');
      }
      render();
    });
    source.onerror = () => {
      const badge = $('run-state');
      badge.textContent = 'disconnected, retrying';
      badge.className = 'badge error';
    };
  }

  $('range').addEventListener('change', (e) => loadHistory(e.target.value));
  for (const id of ['hosts-filter', 'flows-filter', 'packets-filter']) {
    $(id).addEventListener('input', render);
  }
  for (const th of document.querySelectorAll('#hosts th[data-sort]')) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort;
      hostSort = { key, asc: hostSort.key === key ? !hostSort.asc : key === 'ip' || key === 'names' };
      renderHosts();
    });
  }
  connect();
})();
