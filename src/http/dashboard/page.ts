// The dashboard's HTML and CSS. The script lives at /dashboard.js so the page
// can run under a strict Content-Security-Policy (no inline script).

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>dist</title>
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #1d2433; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1100px; padding: 16px; }
  h1 { font-size: 20px; margin: 0 0 12px; } h2 { font-size: 15px; margin: 18px 0 8px; }
  .row { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; }
  .card { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 10px 14px; min-width: 110px; }
  .card b { display: block; font-size: 22px; }
  table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #dde1e8; }
  th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef0f4; font-size: 13px; }
  .ok { color: #17803d; } .bad { color: #b42318; } .muted { color: #6b7280; }
  #bars { display: flex; gap: 3px; align-items: flex-end; height: 70px; background: #fff; border: 1px solid #dde1e8; padding: 6px; }
  #bars div { flex: 1; background: #4f7cff; min-height: 1px; }
  textarea, input { font: 13px ui-monospace, monospace; }
  textarea { width: 100%; height: 56px; }
  #login[hidden], #main[hidden] { display: none; }
</style>
</head>
<body>
<h1>dist <span class="muted" id="status"></span></h1>
<form id="login">
  <p>Paste the submit token. It stays in this tab (session storage) and is sent only as an Authorization header.</p>
  <div class="row"><input id="token" type="password" autocomplete="off" size="48" placeholder="SUBMIT_TOKEN"> <button>Open</button></div>
</form>
<div id="main" hidden>
  <div class="row">Queue <input id="queue" value="default" size="16"> <button id="logout" type="button">Forget token</button></div>
  <h2>Jobs by state</h2>
  <div class="row" id="counts"></div>
  <h2>Throughput, last 10 minutes (jobs per minute)</h2>
  <div id="bars"></div>
  <h2>Agents online</h2>
  <table><thead><tr><th>agent</th><th>last poll</th><th>slots</th><th>running</th></tr></thead><tbody id="agents"></tbody></table>
  <h2>Running</h2>
  <table><thead><tr><th>job</th><th>agent</th><th>progress</th></tr></thead><tbody id="running"></tbody></table>
  <h2>Recent results and failures</h2>
  <table><thead><tr><th>job</th><th>outcome</th><th>agent</th><th>finished</th></tr></thead><tbody id="recent"></tbody></table>
  <h2>Submit a batch</h2>
  <form id="submit">
    <textarea id="fn">(s) => s.toUpperCase()</textarea>
    <textarea id="inputs">["good", "news", "everyone"]</textarea>
    <div class="row"><button>Submit</button> <span id="submitted" class="muted"></span></div>
  </form>
</div>
<script src="/dashboard.js"></script>
</body>
</html>`;
