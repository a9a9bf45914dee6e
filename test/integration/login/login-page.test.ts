/**
 * The whole onboarding path with real peers: a certified OpenID Provider (npm oidc-provider, Dex-like
 * claims) over HTTPS, kubegate with the login page on, headless Chromium signing in and downloading the
 * kubeconfig, then real kubectl using that kubeconfig through kubegate against the apiserver double.
 */
import assert from 'node:assert/strict'
import { copyFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { parse } from 'yaml'
import { kubectl, kubectlOnPath } from '../../helpers/kubectl.js'
import { startOidcProvider, type TestOidcProvider } from '../../helpers/oidc-provider.js'
import { createTempDir, getTestPki, issueServerCert } from '../../helpers/pki.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { freePort } from '../../helpers/free-port.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']

/** The page globals these tests read in Chromium (the project compiles without the DOM library). */
interface PageGlobals {
  navigator: { clipboard: { readText: () => Promise<string> } }
  document: { documentElement: { scrollWidth: number } }
  innerWidth: number
}

describe('login page with a real OpenID Provider, Chromium and kubectl', { timeout: 120_000 }, () => {
  const dir = createTempDir('kubegate-login-')
  const secret = 'client-secret-' + Math.random().toString(36).slice(2)
  let op: TestOidcProvider
  let stack: Stack
  let browser: Browser
  let publicUrl: string
  const cspViolations: string[] = []

  before(async () => {
    const pki = await getTestPki()
    const port = await freePort()
    publicUrl = `https://127.0.0.1:${port}`
    op = await startOidcProvider({
      pki,
      clientId: 'kubegate',
      clientSecret: secret,
      redirectUris: [`${publicUrl}/callback`],
      accounts: {
        user01: { email: 'user01@example.com', groups: ['students', 'dev'], name: 'User Zero One' },
        mallory: { email: 'mallory@example.com', email_verified: false, groups: ['students'] },
      },
    })
    const secretFile = join(dir, 'client-secret')
    await writeFile(secretFile, secret + '\n', { mode: 0o600 })
    const cert = await issueServerCert(pki, 'kubegate')
    stack = await startStack({
      config: {
        listen: `127.0.0.1:${port}`,
        tls: { certFile: cert.certFile, privateKeyFile: cert.keyFile },
        oidc: { issuerUrl: op.url, caFile: op.caFile },
        login: { publicUrl, clientSecretFile: secretFile, caFile: pki.caFile, userNamespaceFromEmail: true },
      },
    })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 })
  })

  after(async () => {
    await browser?.close()
    await stack?.close()
    await op?.close()
  })

  async function newPage (options: Parameters<Browser['newContext']>[0] = {}): Promise<{ context: BrowserContext, page: Page }> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, locale: 'en-US', ...options })
    context.setDefaultTimeout(15_000)
    const page = await context.newPage()
    page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text()) })
    return { context, page }
  }

  /** Opens /login and signs in at the provider's login form; resolves on kubegate's /callback page. */
  async function signIn (page: Page, login: string): Promise<void> {
    await page.goto(`${publicUrl}/login`)
    assert.ok(page.url().startsWith(op.url), `at the provider: ${page.url()}`)
    await page.fill('input[name=login]', login)
    await page.fill('input[name=password]', 'any password')
    await Promise.all([page.waitForURL(`${publicUrl}/callback?**`), page.click('button[type=submit]')])
  }

  it('signs in, shows the proxy\'s identity, downloads a kubeconfig that kubectl uses through kubegate', async () => {
    const { context, page } = await newPage({ viewport: { width: 1100, height: 900 } })
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: publicUrl })
    await signIn(page, 'user01')

    assert.equal(await page.getAttribute('html', 'lang'), 'en')
    assert.equal(await page.textContent('#kg-user'), 'user01@example.com')
    const pageGroups = await page.locator('#kg-groups li').allTextContents()
    assert.deepEqual(pageGroups, ['students', 'dev'])
    assert.equal(await page.textContent('#kg-namespace'), 'user01')
    assert.match(await page.textContent('#kg-expiry') ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (0 h )?\d+ min\)$|^\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ h \d+ min\)$/)
    const shot = join(dir, 'login-page.png')
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok((await readFile(shot)).length > 10_000)
    // KUBEGATE_SCREENSHOT_DIR=docs refreshes the committed docs/login-page.png.
    if (process.env.KUBEGATE_SCREENSHOT_DIR !== undefined) copyFileSync(shot, join(process.env.KUBEGATE_SCREENSHOT_DIR, 'login-page.png'))

    // The nonce-tagged script ran (copy buttons are revealed by it) and copying works.
    assert.ok(await page.isVisible('button[data-copy="kubeconfig-token"]'))
    // Locators and functions only, never a string expression: Playwright evaluates a string in the page,
    // and waitForFunction evaluates it again on every poll after the first, which the page's CSP (no
    // 'unsafe-eval') refuses; a function is evaluated once and then only called.
    await page.click('button[data-copy="kubeconfig-token"]')
    await page.locator('#kubeconfig-token-status').filter({ hasText: /\S/ }).waitFor()
    assert.equal(await page.textContent('#kubeconfig-token-status'), 'Copied to the clipboard.')
    const clip = await page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.readText())
    assert.equal(clip, await page.inputValue('#kubeconfig-token'))

    // The kubelogin form: issuer and client id, never the client secret.
    const execText = await page.inputValue('#kubeconfig-exec')
    assert.ok(!execText.includes(secret))
    assert.ok(!(await page.content()).includes(secret))
    const exec = (parse(execText) as Record<string, any>).users[0].user.exec
    assert.deepEqual(exec.args.slice(0, 4), ['oidc-login', 'get-token', `--oidc-issuer-url=${op.url}`, '--oidc-client-id=kubegate'])

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#kubeconfig-token-download')])
    const kubeconfig = join(dir, 'kubeconfig-token.yaml')
    await download.saveAs(kubeconfig)
    assert.equal(download.suggestedFilename(), 'kubeconfig-127.0.0.1-token.yaml')
    const doc = parse(await readFile(kubeconfig, 'utf8')) as Record<string, any>
    assert.equal(doc.clusters[0].cluster.server, publicUrl)
    assert.equal(doc.contexts[0].context.namespace, 'user01')

    // Real kubectl, verifying kubegate's certificate with the CA from the kubeconfig (no insecure flag).
    const whoami = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig, binary: kubectlOnPath() })
    assert.equal(whoami.code, 0, whoami.stderr)
    const info = (JSON.parse(whoami.stdout) as { status: { userInfo: { username: string, groups: string[] } } }).status.userInfo
    assert.equal(info.username, 'user01@example.com')
    assert.deepEqual(info.groups.filter((g) => g !== 'system:authenticated'), pageGroups)
    // Upstream saw exactly this identity, by impersonation.
    const seen = stack.apiserver.requests.filter((r) => r.url.includes('selfsubjectreviews'))
    assert.ok(seen.length >= 1)
    for (const r of seen) {
      assert.equal(r.impersonated, true)
      assert.equal(r.identity?.user, 'user01@example.com')
    }
    // The namespace from the page is the one the tutorial RBAC grants.
    const pods = await kubectl(['get', 'pods'], { kubeconfig, binary: kubectlOnPath() })
    assert.equal(pods.code, 0, pods.stderr)

    // Going back to the same callback URL (replay) is refused.
    const callbackUrl = page.url()
    const replay = await page.goto(callbackUrl)
    assert.equal(replay?.status(), 400)
    assert.equal(await page.getAttribute('#kg-error', 'data-failure'), 'unknown_state')
    assert.equal(replay?.headers()['x-frame-options'], 'DENY')
    await context.close()
  })

  it('on a phone, in Japanese: fits the screen without sideways scrolling', async () => {
    const { context, page } = await newPage({ viewport: { width: 390, height: 844 }, locale: 'ja-JP', extraHTTPHeaders: { 'Accept-Language': 'ja-JP,ja;q=0.9,en;q=0.5' } })
    await signIn(page, 'user01')
    assert.equal(await page.getAttribute('html', 'lang'), 'ja')
    assert.equal(await page.textContent('h1'), 'Kubernetes へのアクセス')
    const overflow = await page.evaluate(() => { const w = globalThis as unknown as PageGlobals; return w.document.documentElement.scrollWidth - w.innerWidth })
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone screen`)
    const shot = join(dir, 'login-page-phone-ja.png')
    await page.screenshot({ path: shot, fullPage: true })
    if (process.env.KUBEGATE_SCREENSHOT_DIR !== undefined) copyFileSync(shot, join(process.env.KUBEGATE_SCREENSHOT_DIR, 'login-page-phone-ja.png'))
    await context.close()
  })

  it('without JavaScript: no dead copy buttons, the kubeconfig is still selectable and downloadable', async () => {
    const { context, page } = await newPage({ javaScriptEnabled: false })
    await signIn(page, 'user01')
    assert.equal(await page.isVisible('button[data-copy="kubeconfig-token"]'), false)
    assert.ok(await page.isVisible('#kubeconfig-token'))
    assert.ok(await page.isVisible('#kubeconfig-token-download'))
    await context.close()
  })

  it('an account kubegate refuses (email_verified false) gets the refusal page, no kubeconfig', async () => {
    const { context, page } = await newPage()
    await signIn(page, 'mallory')
    assert.equal(await page.getAttribute('#kg-error', 'data-failure'), 'not_allowed')
    assert.equal(await page.locator('textarea').count(), 0)
    await context.close()
  })

  it('no CSP violation on any page, and no code, state or token in kubegate\'s logs', () => {
    assert.deepEqual(cspViolations, [])
    const lines = stack.logs.map((l) => JSON.stringify(l))
    assert.ok(!lines.some((l) => /[?&](code|state)=/.test(l)), 'authorization response parameters logged')
    assert.ok(!lines.some((l) => /eyJ[A-Za-z0-9_-]{20,}\.eyJ/.test(l)), 'a JWT was logged')
    assert.ok(stack.logs.some((l) => l.msg === 'login completed' && l.user === 'user01@example.com'))
  })
})
