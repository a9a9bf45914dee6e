// The login page's HTML (no external assets, strict CSP), with every value from a token, config or request escaped.
import { messages, type Language, type Messages } from './i18n.js'

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' }

/**
 * Escapes text for HTML element content and double- or single-quoted attribute values. Every value that
 * comes from a token, the configuration or a request goes through this: a group named `<script>` is text.
 */
export function escapeHtml (s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

/** Response headers of every HTML page: nothing loads from elsewhere, nothing frames it, nothing caches it. */
export function pageHeaders (nonce: string, lang: Language): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Language': lang,
    // Only the page's own nonce-tagged <style> and <script>; no inline handlers, no external fetches.
    'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'none'; ` +
      'connect-src \'none\'; base-uri \'none\'; form-action \'self\'; frame-ancestors \'none\'',
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    // The page holds a bearer token and /callback's URL an authorization code: never cached, never sent on.
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  }
}

const CSS = `
:root{color-scheme:light dark;--fg:#1b1b1f;--muted:#4a4f57;--bg:#fff;--panel:#f3f4f6;--border:#c9ccd1;--accent:#0b57d0;--on-accent:#fff;--warn-bg:#fff4e5;--warn-fg:#5c3200}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e9;--muted:#b4b8bf;--bg:#141518;--panel:#1f2126;--border:#3c4048;--accent:#8ab4f8;--on-accent:#0b1a33;--warn-bg:#3a2a12;--warn-fg:#ffd9a6}}
*{box-sizing:border-box}
[hidden]{display:none!important}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Hiragino Sans","Noto Sans JP","Yu Gothic",sans-serif}
main{max-width:52rem;margin:0 auto;padding:1.25rem 1rem 3rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:2rem 0 .5rem}
h3{font-size:1rem;margin:1rem 0 .25rem}
p,li{max-width:46rem}
a{color:var(--accent)}
code,textarea,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Noto Sans Mono",monospace;font-size:.9rem}
.id{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0;padding:1rem;background:var(--panel);border:1px solid var(--border);border-radius:.5rem}
.id dt{font-weight:600;color:var(--muted)}
.id dd{margin:0;overflow-wrap:anywhere}
.id ul{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:.35rem}
.id li code{display:inline-block;padding:0 .4rem;border:1px solid var(--border);border-radius:.25rem;background:var(--bg)}
.warn{background:var(--warn-bg);color:var(--warn-fg);padding:.6rem .8rem;border-radius:.4rem}
pre{background:var(--panel);border:1px solid var(--border);border-radius:.4rem;padding:.5rem .75rem;overflow-x:auto;margin:.25rem 0}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
textarea{width:100%;min-height:12rem;padding:.6rem;border:1px solid var(--border);border-radius:.4rem;background:var(--panel);color:var(--fg);resize:vertical;white-space:pre;overflow:auto}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0}
.btn{display:inline-block;padding:.5rem 1rem;border-radius:.4rem;border:1px solid var(--accent);background:var(--accent);color:var(--on-accent);font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
.btn.secondary{background:transparent;color:var(--accent)}
.btn:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.status{align-self:center;color:var(--muted)}
section{border-top:1px solid var(--border);margin-top:1.5rem}
@media (max-width:30rem){.id{grid-template-columns:1fr}.id dd{margin-bottom:.4rem}h1{font-size:1.35rem}}
`

// Copy buttons are hidden until this script runs: without JavaScript the page shows only what works
// (select the text, or the download link). No inline handlers: the CSP allows this nonce-tagged block only.
const SCRIPT = `
(function(){
  var buttons=document.querySelectorAll('button[data-copy]');
  for(var i=0;i<buttons.length;i++){(function(b){
    b.hidden=false;
    b.addEventListener('click',function(){
      var area=document.getElementById(b.getAttribute('data-copy'));
      if(!area){return;}
      var ok=b.getAttribute('data-ok'),bad=b.getAttribute('data-bad');
      var status=document.getElementById(b.getAttribute('data-copy')+'-status');
      function say(t){if(status){status.textContent=t;}}
      function fallback(){area.focus();area.select();try{say(document.execCommand('copy')?ok:bad);}catch(e){say(bad);}}
      if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(area.value).then(function(){say(ok);},fallback);}
      else{fallback();}
    });
  })(buttons[i]);}
})();
`

function layout (lang: Language, nonce: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${CSS}</style>
</head>
<body>
<main>
${body}
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`
}

function pad (n: number): string {
  return n < 10 ? `0${n}` : String(n)
}

/** `2025-11-28 19:02 UTC (in 23 h 59 min)`: absolute (UTC, so it is right on every device) and relative. */
export function formatExpiry (expSeconds: number, nowMs: number, m: Messages): string {
  const d = new Date(expSeconds * 1000)
  const abs = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`
  const left = Math.floor((expSeconds * 1000 - nowMs) / 60_000)
  if (left < 0) return `${abs} (${m.expired})`
  const h = Math.floor(left / 60)
  const min = left % 60
  const span = h > 0 ? `${h} ${m.hours} ${min} ${m.minutes}` : `${min} ${m.minutes}`
  return `${abs} (${m.expiresIn.replace('{in}', span)})`
}

export interface KubeconfigBlock {
  readonly id: string
  readonly text: string
  readonly fileName: string
}

export interface LoginPageView {
  readonly lang: Language
  /** Per-response CSP nonce. */
  readonly nonce: string
  readonly user: string
  readonly groups: readonly string[]
  readonly name?: string | undefined
  readonly namespace?: string | undefined
  /** Token `exp`, seconds. */
  readonly exp: number
  readonly now: number
  readonly exec: KubeconfigBlock
  readonly token?: KubeconfigBlock | undefined
}

function dataUrl (text: string): string {
  return 'data:application/yaml;charset=utf-8;base64,' + Buffer.from(text, 'utf8').toString('base64')
}

function kubeconfigBlock (m: Messages, b: KubeconfigBlock, label: string): string {
  return `<label for="${escapeHtml(b.id)}">${escapeHtml(label)}</label>
<textarea id="${escapeHtml(b.id)}" readonly spellcheck="false" autocomplete="off" autocapitalize="off" wrap="off" rows="14">${escapeHtml(b.text)}</textarea>
<div class="actions">
<button type="button" class="btn" data-copy="${escapeHtml(b.id)}" data-ok="${escapeHtml(m.copied)}" data-bad="${escapeHtml(m.copyFailed)}" hidden>${escapeHtml(m.copy)}</button>
<a class="btn secondary" id="${escapeHtml(b.id)}-download" href="${dataUrl(b.text)}" download="${escapeHtml(b.fileName)}">${escapeHtml(m.download)} (${escapeHtml(b.fileName)})</a>
<span id="${escapeHtml(b.id)}-status" class="status" role="status" aria-live="polite"></span>
</div>`
}

/** The page after a successful login: who you are to the cluster, and the kubeconfigs. */
export function renderLoginPage (v: LoginPageView): string {
  const m = messages(v.lang)
  const groups = v.groups.length === 0
    ? escapeHtml(m.noGroups)
    : `<ul>${v.groups.map((g) => `<li><code>${escapeHtml(g)}</code></li>`).join('')}</ul>`
  const rows = [
    v.name === undefined ? '' : `<dt>${escapeHtml(m.name)}</dt><dd>${escapeHtml(v.name)}</dd>`,
    `<dt>${escapeHtml(m.user)}</dt><dd><code id="kg-user">${escapeHtml(v.user)}</code></dd>`,
    `<dt>${escapeHtml(m.groups)}</dt><dd id="kg-groups">${groups}</dd>`,
    v.namespace === undefined ? '' : `<dt>${escapeHtml(m.namespace)}</dt><dd><code id="kg-namespace">${escapeHtml(v.namespace)}</code></dd>`,
    `<dt>${escapeHtml(m.tokenExpires)}</dt><dd id="kg-expiry">${escapeHtml(formatExpiry(v.exp, v.now, m))}</dd>`,
  ].filter((r) => r !== '').join('\n')
  const tokenSection = v.token === undefined
    ? ''
    : `<section aria-labelledby="h-token">
<h2 id="h-token">${escapeHtml(m.tokenTitle)}</h2>
<p>${escapeHtml(m.tokenIntro)}</p>
${kubeconfigBlock(m, v.token, m.tokenLabel)}
<p>${escapeHtml(m.tryIt)}</p>
<pre><code>kubectl --kubeconfig ${escapeHtml(v.token.fileName)} auth whoami</code></pre>
</section>`
  const body = `<h1>${escapeHtml(m.title)}</h1>
<p>${escapeHtml(m.signedInAs)}</p>
<dl class="id">
${rows}
</dl>
<p class="warn" role="note">${escapeHtml(m.secretWarning)}</p>
<section aria-labelledby="h-exec">
<h2 id="h-exec">${escapeHtml(m.execTitle)}</h2>
<p>${escapeHtml(m.execIntro)}</p>
<h3>${escapeHtml(m.execInstallTitle)}</h3>
<ol>
<li>${escapeHtml(m.execStep1)}</li>
<li>${escapeHtml(m.execStep2)}<pre><code>kubectl krew install oidc-login</code></pre></li>
<li>${escapeHtml(m.execStep3)}</li>
<li>${escapeHtml(m.execStep4)}<pre><code>kubectl auth whoami</code></pre></li>
</ol>
${kubeconfigBlock(m, v.exec, m.execLabel)}
</section>
${tokenSection}
<p><a href="/login?lang=${v.lang}">${escapeHtml(m.loginAgain)}</a></p>`
  return layout(v.lang, v.nonce, m.title, body)
}

/** A failed or refused login, with the way back. `failure` picks the message (unknown: the generic one). */
export function renderErrorPage (lang: Language, nonce: string, failure: string): string {
  const m = messages(lang)
  const text = m.failures[failure] ?? m.failures.internal ?? ''
  const body = `<h1>${escapeHtml(m.errorTitle)}</h1>
<p id="kg-error" data-failure="${escapeHtml(failure)}">${escapeHtml(text)}</p>
<p><a class="btn" href="/login?lang=${lang}">${escapeHtml(m.startAgain)}</a></p>`
  return layout(lang, nonce, m.errorTitle, body)
}
