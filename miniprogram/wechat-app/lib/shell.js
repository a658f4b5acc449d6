// The shell's use cases, written once over the platform adapter: launch
// and login, the identity claim, the face check, opening the H5 pages in
// the web-view through one-time tickets, relatives and the staff scan.
// Pages call these and show what they answer. This file is the same in both
// shells.

const { createApi } = require('./api.js')
const { createSession } = require('./session.js')
const { ApiError, messageOf } = require('./errors.js')
const catalog = require('./catalog.js')
const { untilText, dateTimeText } = require('./time.js')

/** The shell's pages, as navigated to. */
const pages = {
  index: '/pages/index/index',
  bind: '/pages/bind/bind',
  face: '/pages/face/face',
  webview: '/pages/webview/webview',
  relatives: '/pages/relatives/relatives',
  relativeAdd: '/pages/relative-add/relative-add',
  scan: '/pages/scan/scan',
}

const faceMessages = {
  passed: until => `人脸核验通过，今日有效至 ${until}`,
  failed: () => '人脸核验未通过，请确认是本人操作后重试',
  expired: () => '核验已超时，请重新核验',
  pending: () => '核验结果确认中，请稍后再试',
  cancelled: () => '人脸核验未完成，可重新开始',
  unsupported: () => '当前版本不支持人脸核验，请升级客户端后重试',
}

/**
 * createShell builds the shell over a platform adapter and the
 * configuration ({baseURL}). limits override the API client's bounds.
 */
function createShell({ platform, config, limits }) {
  const session = createSession({ platform })
  const waiters = new Set()
  const api = createApi({
    platform,
    baseURL: config.baseURL,
    session,
    limits,
    onWait: (seconds, err) => waiters.forEach(fn => fn(seconds, err)),
  })
  session.attach(api)
  // The name and number typed on the bind page, in memory only and only
  // until a face check passes: WeChat's older face API takes them from the
  // mini-program itself.
  let typed = null

  /** launch logs in unless a token is stored, then reads the account. */
  async function launch() {
    await session.token()
    return refresh()
  }

  /** refresh reads the account and identity from GET /api/v1/me. */
  async function refresh() {
    const me = await api.request('GET', '/api/v1/me')
    session.setAccount(me.account)
    return me
  }

  /**
   * claim records the typed identity (POST /api/v1/identity); the answer's
   * identity is pending until a face check passes.
   */
  async function claim({ name, docType, docNumber }) {
    const body = { name: String(name || '').trim(), doc_type: docType, doc_number: catalog.normaliseDocNumber(docNumber) }
    const resp = await api.request('POST', '/api/v1/identity', body)
    session.update(resp)
    typed = { name: body.name, docType: body.doc_type, docNumber: body.doc_number }
    return resp.identity
  }

  /**
   * verifyFace runs a face check for the bound identity or the claim: the
   * backend starts it, the platform's own face flow runs, the backend asks
   * the platform for the outcome and hands out a new token. It answers
   * {status, message, until}; status is passed, failed, expired, pending,
   * cancelled, unsupported, or needs_identity (the older WeChat flow needs
   * the name and number typed again: pass them as identity).
   */
  async function verifyFace(identity) {
    if (identity) typed = { name: String(identity.name || '').trim(), docType: identity.docType, docNumber: catalog.normaliseDocNumber(identity.docNumber) }
    const mode = platform.faceMode()
    if (!mode) return { status: 'unsupported', message: faceMessages.unsupported() }
    let outcome
    if (mode === 'legacy') {
      if (!typed || typed.docType !== 'resident_id') return { status: 'needs_identity', message: '请填写姓名和身份证号后开始核验' }
      outcome = await platform.legacyFace(typed)
    } else {
      const start = await api.request('POST', '/api/v1/face/start', {})
      outcome = await platform.face(start)
    }
    if (outcome.cancelled) return { status: 'cancelled', message: faceMessages.cancelled() }
    let resp
    for (let i = 0; ; i++) {
      resp = await api.request('POST', '/api/v1/face/callback', outcome.callback)
      if (resp.status !== 'pending' || i >= 4) break
      await platform.sleep(1000)
    }
    session.update(resp)
    const until = untilText(resp.account && resp.account.face_valid_until)
    if (resp.status === 'passed') typed = null
    const text = faceMessages[resp.status] || faceMessages.pending
    return { status: resp.status, message: text(until), until }
  }

  /** ticketURL trades a one-time ticket for the page's full address. */
  async function ticketURL(body) {
    const t = await api.request('POST', '/api/v1/h5/tickets', body)
    return api.baseURL + t.url
  }

  /**
   * openCode opens the code page (the caller's, or a relative's) in the
   * web-view. The caller's own code first needs a bound identity and
   * today's face check: the bind or face page opens instead.
   * PLACE: 核酸码 — when its page lands, a purpose for it goes here.
   */
  async function openCode({ relativeId } = {}) {
    if (!relativeId) {
      const me = await refresh()
      if (!me.account.identity_bound && !me.account.identity_pending) {
        platform.navigate(pages.bind)
        return null
      }
      if (!me.account.face_verified_today) {
        platform.navigate(pages.face)
        return null
      }
    }
    const url = await ticketURL(relativeId ? { purpose: 'code', relative_id: relativeId } : { purpose: 'code' })
    platform.navigate(webviewPath(url))
    return url
  }

  /**
   * openVerify opens the verification view for a scanned code: a verify
   * ticket, with the code in the fragment the page reads (#qr=…).
   */
  async function openVerify(qr) {
    const url = (await ticketURL({ purpose: 'verify' })) + '#qr=' + encodeURIComponent(qr)
    platform.navigate(webviewPath(url))
    return url
  }

  /**
   * scan reads a code with the platform's scanner and opens the
   * verification view; null when the scan was cancelled.
   * PLACE: 场所签到 — a venue code read here will call POST /api/v1/checkins
   * and open the result page once the venue issue lands (features.venueCheckin).
   */
  async function scan() {
    const text = await platform.scan()
    if (!text) return null
    return openVerify(text)
  }

  function webviewPath(url) {
    return `${pages.webview}?url=${encodeURIComponent(url)}`
  }

  /**
   * webviewURL checks an address handed to the web-view page: only the
   * backend's own H5 pages open there.
   */
  function webviewURL(query) {
    let url = String((query && query.url) || '')
    // Encoded once by webviewPath; decoded here unless the platform
    // already did (an encoded address does not start with "http").
    if (!/^https?:\/\//.test(url)) {
      try {
        url = decodeURIComponent(url)
      } catch (e) {
        return ''
      }
    }
    return url.indexOf(api.baseURL + '/h5/') === 0 ? url : ''
  }

  /** relatives lists the caller's live links as the page shows them. */
  async function relatives() {
    const resp = await api.request('GET', '/api/v1/relatives')
    return (resp.relatives || []).filter(r => r.status !== 'deleted').map(relativeView)
  }

  /**
   * addRelative links a family member. It answers the link with text:
   * approved at once when reference data proves the relation, else queued
   * for 人工审核 with its due time.
   */
  async function addRelative({ name, docType, docNumber, relation }) {
    const v = await api.request('POST', '/api/v1/relatives', {
      name: String(name || '').trim(),
      doc_type: docType,
      doc_number: catalog.normaliseDocNumber(docNumber),
      relation,
    })
    const view = relativeView(v)
    view.message = v.status === 'approved'
      ? `已通过（${catalog.labelOf(evidenceList, v.evidence)}核验），可查看其健康码`
      : `已提交人工审核，预计 ${dateTimeText(v.review_due_at)} 前完成`
    return view
  }

  /** removeRelative ends a link after the user confirms; false when not confirmed. */
  async function removeRelative(id) {
    if (!(await platform.confirm('解除后将无法查看其健康码，确定解除吗？'))) return false
    await api.request('DELETE', `/api/v1/relatives/${encodeURIComponent(id)}`)
    return true
  }

  /**
   * handleError deals with an error a tap ran into: a missing identity or
   * face check opens the page that fixes it; anything else answers the
   * message to show (the server's own, or ours for a network failure).
   * It answers '' when a page opened instead.
   */
  function handleError(err) {
    if (err instanceof ApiError && err.code === 'face_verification_required') {
      platform.navigate(pages.face)
      return ''
    }
    if (err instanceof ApiError && err.code === 'identity_required') {
      platform.navigate(pages.bind)
      return ''
    }
    if (!(err instanceof ApiError) && typeof console !== 'undefined') console.error(err)
    return messageOf(err)
  }

  /**
   * onWait registers fn(seconds, err), called while a request waits out a
   * Retry-After; it answers a function that removes it.
   */
  function onWait(fn) {
    waiters.add(fn)
    return () => waiters.delete(fn)
  }

  return {
    platform, session, api, pages, catalog,
    launch, refresh, claim, verifyFace, openCode, openVerify, scan, webviewURL,
    relatives, addRelative, removeRelative, handleError, onWait,
    typedIdentity: () => typed,
  }
}

const evidenceList = Object.keys(catalog.evidenceLabels).map(k => ({ value: k, label: catalog.evidenceLabels[k] }))

function relativeView(r) {
  return {
    id: r.id,
    relation: r.relation,
    relationText: catalog.labelOf(catalog.relations, r.relation),
    maskedName: r.masked_name,
    maskedDoc: r.masked_doc,
    status: r.status,
    statusText: catalog.statusLabels[r.status] || r.status,
    dueText: r.status === 'pending' && r.review_due_at ? `预计 ${dateTimeText(r.review_due_at)} 前完成审核` : '',
    note: r.note || '',
    canOpen: r.status === 'approved',
  }
}

module.exports = { createShell, pages, faceMessages }
