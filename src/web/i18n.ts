/** Languages of the login page. English is the fallback. */
export const LANGUAGES = ['en', 'ja'] as const
export type Language = typeof LANGUAGES[number]

export function isLanguage (x: unknown): x is Language {
  return x === 'en' || x === 'ja'
}

/**
 * Picks the page language from `Accept-Language` (RFC 9110 §12.5.4): the supported language with the
 * highest q-value wins, a primary subtag matches its regional variants (`ja-JP` -> `ja`), `q=0` excludes,
 * `*` stands for English; ties go to the earlier entry. Malformed entries are skipped, never fatal.
 */
export function pickLanguage (header: string | undefined): Language {
  if (header === undefined || header === '') return 'en'
  let best: Language = 'en'
  let bestQ = -1
  const parts = header.split(',', 32)
  for (const part of parts) {
    const [rangeRaw, ...params] = part.split(';')
    const range = (rangeRaw ?? '').trim().toLowerCase()
    if (range === '') continue
    let q = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)
      if (m !== null) q = Number(m[1])
    }
    if (!(q > 0) || q > 1) continue
    const primary = range === '*' ? 'en' : range.split('-')[0]
    if (!isLanguage(primary)) continue
    if (q > bestQ) {
      best = primary
      bestQ = q
    }
  }
  return best
}

export interface Messages {
  readonly title: string
  readonly signedInAs: string
  readonly name: string
  readonly user: string
  readonly groups: string
  readonly noGroups: string
  readonly namespace: string
  readonly tokenExpires: string
  /** `{in}` is replaced by a duration. */
  readonly expiresIn: string
  readonly expired: string
  readonly hours: string
  readonly minutes: string
  readonly secretWarning: string
  readonly execTitle: string
  readonly execIntro: string
  readonly execInstallTitle: string
  readonly execStep1: string
  readonly execStep2: string
  readonly execStep3: string
  readonly execStep4: string
  readonly execLabel: string
  readonly tokenTitle: string
  readonly tokenIntro: string
  readonly tokenLabel: string
  readonly copy: string
  readonly copied: string
  readonly copyFailed: string
  readonly download: string
  readonly tryIt: string
  readonly loginAgain: string
  readonly errorTitle: string
  readonly startAgain: string
  readonly failures: Readonly<Record<string, string>>
}

const EN: Messages = {
  title: 'Kubernetes access',
  signedInAs: 'You are signed in. kubectl requests through this gateway run as:',
  name: 'Name',
  user: 'Kubernetes user',
  groups: 'Groups',
  noGroups: '(none)',
  namespace: 'Your namespace',
  tokenExpires: 'Token valid until',
  expiresIn: 'in {in}',
  expired: 'expired',
  hours: 'h',
  minutes: 'min',
  secretWarning: 'These files are your credentials. Do not share them or commit them to a repository.',
  execTitle: 'Recommended: kubeconfig with kubelogin',
  execIntro: 'kubectl runs kubelogin, which opens your browser to sign you in whenever a new token is needed. Set it up once:',
  execInstallTitle: 'Setup',
  execStep1: 'Install krew, the kubectl plugin manager (https://krew.sigs.k8s.io/docs/user-guide/setup/install/).',
  execStep2: 'Install kubelogin:',
  execStep3: 'Save the file below as ~/.kube/config (or point KUBECONFIG at it).',
  execStep4: 'Check who you are:',
  execLabel: 'kubeconfig (kubelogin)',
  tokenTitle: 'Quick start: kubeconfig with your current token',
  tokenIntro: 'Works right away with plain kubectl, no plugin needed, until the token expires. Then sign in here again, or switch to the kubelogin kubeconfig above.',
  tokenLabel: 'kubeconfig (token)',
  copy: 'Copy',
  copied: 'Copied to the clipboard.',
  copyFailed: 'Could not copy: select the text and copy it by hand.',
  download: 'Download',
  tryIt: 'Then try:',
  loginAgain: 'Sign in again',
  errorTitle: 'Sign-in did not complete',
  startAgain: 'Start again',
  failures: {
    bad_request: 'This address is not a valid sign-in answer.',
    unknown_state: 'This sign-in has expired or was already used. Please start again.',
    foreign_state: 'This sign-in was started in another browser, or its cookie has expired. Please start again in this browser.',
    provider_error: 'The identity provider did not sign you in.',
    exchange_failed: 'The identity provider\'s answer could not be accepted.',
    bad_nonce: 'The identity provider\'s answer does not belong to this sign-in.',
    not_allowed: 'Your account is not allowed to use this cluster. Ask your administrator.',
    issuer_unavailable: 'The identity provider is not reachable right now. Please try again in a minute.',
    try_again: 'Your sign-in could not be checked just now. Please try again in a moment.',
    method: 'This method is not allowed here.',
    internal: 'Something went wrong on our side. Please try again.',
  },
}

const JA: Messages = {
  title: 'Kubernetes へのアクセス',
  signedInAs: 'サインインしました。このゲートウェイを通る kubectl の操作は、次の ID で実行されます:',
  name: '名前',
  user: 'Kubernetes ユーザー',
  groups: 'グループ',
  noGroups: '(なし)',
  namespace: 'あなたの名前空間 (namespace)',
  tokenExpires: 'トークンの有効期限',
  expiresIn: 'あと {in}',
  expired: '期限切れ',
  hours: '時間',
  minutes: '分',
  secretWarning: 'これらのファイルはあなたの認証情報です。他人に渡したり、リポジトリにコミットしたりしないでください。',
  execTitle: 'おすすめ: kubelogin を使う kubeconfig',
  execIntro: 'kubectl が kubelogin を呼び出し、新しいトークンが必要になるとブラウザでサインインします。最初に一度だけ設定してください:',
  execInstallTitle: '設定手順',
  execStep1: 'kubectl のプラグインマネージャー krew をインストールします (https://krew.sigs.k8s.io/docs/user-guide/setup/install/)。',
  execStep2: 'kubelogin をインストールします:',
  execStep3: '下のファイルを ~/.kube/config として保存します (または KUBECONFIG で指定します)。',
  execStep4: '自分の ID を確認します:',
  execLabel: 'kubeconfig (kubelogin)',
  tokenTitle: 'すぐに試す: 現在のトークン入りの kubeconfig',
  tokenIntro: 'プラグインなしの kubectl ですぐに使えます。トークンの期限が切れたら、ここで再度サインインするか、上の kubelogin 用 kubeconfig に切り替えてください。',
  tokenLabel: 'kubeconfig (トークン)',
  copy: 'コピー',
  copied: 'クリップボードにコピーしました。',
  copyFailed: 'コピーできませんでした。テキストを選択して手動でコピーしてください。',
  download: 'ダウンロード',
  tryIt: '試してみましょう:',
  loginAgain: 'もう一度サインイン',
  errorTitle: 'サインインが完了しませんでした',
  startAgain: 'やり直す',
  failures: {
    bad_request: 'このアドレスは正しいサインインの応答ではありません。',
    unknown_state: 'このサインインは期限切れか、すでに使用されています。もう一度やり直してください。',
    foreign_state: 'このサインインは別のブラウザーで開始されたか、Cookie の期限が切れています。このブラウザーでもう一度やり直してください。',
    provider_error: 'ID プロバイダーでサインインできませんでした。',
    exchange_failed: 'ID プロバイダーからの応答を受け付けられませんでした。',
    bad_nonce: 'ID プロバイダーからの応答がこのサインインのものではありません。',
    not_allowed: 'あなたのアカウントはこのクラスターを利用できません。管理者に問い合わせてください。',
    issuer_unavailable: '現在 ID プロバイダーに接続できません。しばらくしてからもう一度お試しください。',
    try_again: '現在サインインを確認できませんでした。少し待ってからもう一度お試しください。',
    method: 'このメソッドは使用できません。',
    internal: 'サーバー側で問題が発生しました。もう一度お試しください。',
  },
}

export function messages (lang: Language): Messages {
  return lang === 'ja' ? JA : EN
}
