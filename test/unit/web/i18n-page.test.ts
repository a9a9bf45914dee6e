import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pickLanguage } from '../../../src/web/i18n.js'
import { escapeHtml, formatExpiry, pageHeaders, renderErrorPage, renderLoginPage, type LoginPageView } from '../../../src/web/page.js'
import { messages } from '../../../src/web/i18n.js'

describe('Accept-Language', () => {
  const cases: Array<[string | undefined, 'en' | 'ja']> = [
    [undefined, 'en'],
    ['', 'en'],
    ['ja', 'ja'],
    ['ja-JP', 'ja'],
    ['JA-jp,en;q=0.5', 'ja'],
    ['en-US,en;q=0.9,ja;q=0.8', 'en'],
    ['fr-FR,ja;q=0.7,en;q=0.3', 'ja'],
    ['en;q=0.2, ja;q=0.9', 'ja'],
    ['ja;q=0, en', 'en'],
    ['ja;q=0', 'en'],
    ['de, fr', 'en'],
    ['*', 'en'],
    ['ja;q=abc, en;q=0.1', 'ja'],
    ['ja;q=1.5', 'en'],
    ['jav, ja-Latn;q=0.4', 'ja'],
    [',,;;,ja', 'ja'],
  ]
  for (const [header, want] of cases) {
    it(`${JSON.stringify(header)} -> ${want}`, () => assert.equal(pickLanguage(header), want))
  }
  it('a huge header costs a bounded amount of work', () => {
    assert.equal(pickLanguage('xx,'.repeat(100_000) + 'ja'), 'en')
  })
})

const NOW = Date.UTC(2025, 0, 2, 10, 0, 0)
function view (over: Partial<LoginPageView> = {}): LoginPageView {
  return {
    lang: 'en',
    nonce: 'bm9uY2U',
    user: 'user01@example.com',
    groups: ['students', 'dev'],
    name: 'User One',
    namespace: 'user01',
    exp: NOW / 1000 + 3600 + 90,
    now: NOW,
    exec: { id: 'kubeconfig-exec', text: 'apiVersion: v1\n', fileName: 'kubeconfig-k8s.yaml' },
    token: { id: 'kubeconfig-token', text: 'apiVersion: v1\nusers: []\n', fileName: 'kubeconfig-k8s-token.yaml' },
    ...over,
  }
}

describe('login page HTML', () => {
  it('claims are inert text: a group named <script> cannot run or break out of attributes', () => {
    const html = renderLoginPage(view({
      groups: ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', 'a&b'],
      name: '<b>Mallory</b>',
      user: 'x\'<y>@example.com',
    }))
    assert.ok(html.includes('<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>'))
    assert.ok(html.includes('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'))
    assert.ok(html.includes('a&amp;b'))
    assert.ok(html.includes('&lt;b&gt;Mallory&lt;/b&gt;'))
    assert.ok(html.includes('x&#39;&lt;y&gt;@example.com'))
    // Exactly one script element (kubegate's own, with the nonce), and no element from the claims.
    assert.equal(html.match(/<script/g)?.length, 1)
    assert.ok(html.includes('<script nonce="bm9uY2U">'))
    assert.ok(!html.includes('<img'))
    assert.ok(!html.includes('<b>'))
  })

  it('kubeconfig text is escaped in the textarea, and offered as a data: download', () => {
    const text = 'users:\n- token: "</textarea><script>x</script>"\n'
    const html = renderLoginPage(view({ token: { id: 'kubeconfig-token', text, fileName: 'k.yaml' } }))
    assert.ok(html.includes('&lt;/textarea&gt;&lt;script&gt;x&lt;/script&gt;'))
    const m = /href="data:application\/yaml;charset=utf-8;base64,([A-Za-z0-9+/=]+)" download="k.yaml"/.exec(html)
    assert.ok(m !== null)
    assert.equal(Buffer.from(m[1] as string, 'base64').toString('utf8'), text)
  })

  it('is self-contained and accessible: lang, viewport, labels for each textarea, copy buttons hidden until JS runs', () => {
    const html = renderLoginPage(view())
    assert.match(html, /^<!doctype html>\n<html lang="en">/)
    assert.ok(html.includes('name="viewport"'))
    for (const id of ['kubeconfig-exec', 'kubeconfig-token']) {
      assert.ok(html.includes(`<label for="${id}">`), id)
      assert.ok(html.includes(`<textarea id="${id}" readonly`), id)
      assert.match(html, new RegExp(`<button type="button" class="btn" data-copy="${id}"[^>]* hidden>`))
    }
    assert.ok(!/\s(src|href)="(https?:)?\/\//.test(html), 'no external asset')
    assert.ok(!/\son[a-z]+=/.test(html), 'no inline event handler (the CSP would block it anyway)')
    assert.ok(html.includes('kubectl krew install oidc-login'))
    assert.ok(html.includes('id="kg-namespace">user01<'))
  })

  it('without the static form, only the kubelogin kubeconfig is offered', () => {
    const html = renderLoginPage(view({ token: undefined }))
    assert.ok(!html.includes('kubeconfig-token'))
    assert.ok(html.includes('kubeconfig-exec'))
  })

  it('Japanese page', () => {
    const html = renderLoginPage(view({ lang: 'ja' }))
    assert.match(html, /<html lang="ja">/)
    assert.ok(html.includes(messages('ja').title))
    assert.ok(html.includes('あと 1 時間 1 分'))
  })

  it('expiry: UTC time plus what is left', () => {
    const m = messages('en')
    assert.equal(formatExpiry(NOW / 1000 + 3600 + 90, NOW, m), '2025-01-02 11:01 UTC (in 1 h 1 min)')
    assert.equal(formatExpiry(NOW / 1000 + 59, NOW, m), '2025-01-02 10:00 UTC (in 0 min)')
    assert.equal(formatExpiry(NOW / 1000 - 1, NOW, m), '2025-01-02 09:59 UTC (expired)')
  })

  it('headers: strict CSP with the nonce, no framing, no caching, no referrer', () => {
    const h = pageHeaders('abc', 'ja')
    assert.equal(h['Content-Security-Policy'], "default-src 'none'; script-src 'nonce-abc'; style-src 'nonce-abc'; img-src 'none'; " +
      "connect-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    assert.equal(h['X-Frame-Options'], 'DENY')
    assert.equal(h['Cache-Control'], 'no-store')
    assert.equal(h['Referrer-Policy'], 'no-referrer')
    assert.equal(h['Content-Language'], 'ja')
  })

  it('error page: fixed message per failure, generic for unknown ones', () => {
    assert.ok(renderErrorPage('en', 'n', 'unknown_state').includes(messages('en').failures.unknown_state as string))
    assert.ok(renderErrorPage('ja', 'n', 'foreign_state').includes(messages('ja').failures.foreign_state as string))
    assert.ok(renderErrorPage('en', 'n', '<x>').includes(messages('en').failures.internal as string))
    assert.ok(!renderErrorPage('en', 'n', '<x>').includes('<x>'))
  })

  it('escapeHtml covers the five significant characters', () => {
    assert.equal(escapeHtml('<a href="x" title=\'y\'>&</a>'), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;')
  })
})
