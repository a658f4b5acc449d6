// A my object for tests: my.request is real HTTP (to the backend on the
// loopback), my.getAuthCode hands out the auth codes the fake Alipay
// gateway knows for one user, storage is in memory, navigation and dialogs
// are recorded, my.startAPVerify checks it was given the gateway's certify
// URL and answers as Alipay's face service does.

const { fixtures, httpRequest } = require('./backend.js')

/**
 * createMy returns {my, calls, storage} for user (a name from users.json).
 * Options: httpErrorsAsSuccess (an error status reaches success, as some
 * base libraries do, instead of fail with error 19); faceResult (the
 * resultStatus, "9000" by default); onResponse; confirm; scans.
 */
function createMy(user, opts = {}) {
  const fx = fixtures()
  const codes = (fx.alipay.users[user] && fx.alipay.users[user].codes) || []
  const storage = new Map()
  const calls = { logins: 0, scopes: [], requests: [], navigate: [], redirect: [], back: 0, alerts: [], confirms: [], toasts: [], faces: [], scans: opts.scans || [] }
  let next = 0
  const later = fn => setTimeout(fn, 0)

  const my = {
    getAuthCode({ scopes, success, fail }) {
      calls.logins++
      calls.scopes.push(scopes)
      const code = opts.authCode || codes[next++]
      later(() => (code ? success({ authCode: code }) : fail({ error: 11, errorMessage: 'no auth code left' })))
    },
    request({ url, method = 'GET', headers = {}, header, data, timeout = 30000, success, fail, complete }) {
      if (header !== undefined) throw new Error('my.request takes headers, not header')
      const path = new URL(url).pathname
      calls.requests.push({ method, path, headers })
      const body = data === undefined ? undefined : typeof data === 'string' ? data : JSON.stringify(data)
      httpRequest({ url, method, headers, body, timeoutMs: timeout }).then(
        res => {
          let parsed = res.text
          try {
            parsed = JSON.parse(res.text)
          } catch (e) {
            // Alipay hands over the text when it is not JSON.
          }
          const r = { status: res.status, headers: res.headers, data: parsed }
          if (opts.onResponse) opts.onResponse(r, { method, path })
          if (res.status >= 400 && !opts.httpErrorsAsSuccess) {
            const e = Object.assign({ error: 19, errorMessage: 'http status error' }, r)
            if (fail) fail(e)
            if (complete) complete(e)
            return
          }
          if (success) success(r)
          if (complete) complete(r)
        },
        err => {
          const e = err.timeout ? { error: 13, errorMessage: '超时' } : { error: 12, errorMessage: '网络出错' }
          if (fail) fail(e)
          if (complete) complete(e)
        },
      )
      return { abort() {} }
    },
    getStorageSync: ({ key }) => ({ data: storage.has(key) ? storage.get(key) : null }),
    setStorageSync: ({ key, data }) => storage.set(key, data),
    removeStorageSync: ({ key }) => storage.delete(key),
    navigateTo: ({ url }) => calls.navigate.push(url),
    redirectTo: ({ url }) => calls.redirect.push(url),
    navigateBack: () => calls.back++,
    alert({ content, complete }) {
      calls.alerts.push(content)
      later(() => complete && complete())
    },
    confirm({ content, success }) {
      calls.confirms.push(content)
      later(() => success && success({ confirm: opts.confirm !== false }))
    },
    showToast: ({ content }) => calls.toasts.push(content),
    scan({ type, success, fail }) {
      const text = type === 'qr' ? calls.scans.shift() : ''
      later(() => (text ? success({ code: text, qrCode: text }) : fail({ error: 10, errorMessage: '用户取消' })))
    },
    startAPVerify({ url, certifyId, success, fail }) {
      calls.faces.push({ url, certifyId })
      const ok = typeof url === 'string' && url.indexOf(fx.alipay.gateway) === 0 && typeof certifyId === 'string' && certifyId !== ''
      const resultStatus = ok ? opts.faceResult || '9000' : '4000'
      later(() => (resultStatus === '9000' ? success({ resultStatus, result: { certifyId } }) : fail({ resultStatus, result: { errorCode: 'INVALID' } })))
    },
  }
  return { my, calls, storage }
}

module.exports = { createMy }
