// A wx object for tests: wx.request is real HTTP (to the backend on the
// loopback), wx.login hands out the login codes the fake WeChat server
// knows for one user, storage is in memory, navigation and dialogs are
// recorded. Face and scan answer as the WeChat client would.

const { fixtures, httpRequest } = require('./backend.js')

/**
 * createWx returns {wx, calls, storage} for user (a name from users.json).
 * Options: face "current" (wx.requestFacialVerify), "legacy" (only
 * wx.startFacialRecognitionVerify) or "none"; faceCancelled; onResponse(res,
 * req) sees every HTTP answer; confirm answers showModal's confirm.
 */
function createWx(user, opts = {}) {
  const fx = fixtures()
  const face = opts.face || 'current'
  const codes = (fx.wechat.users[user] && fx.wechat.users[user].codes) || []
  const storage = new Map()
  const calls = { logins: 0, requests: [], navigate: [], redirect: [], back: 0, modals: [], toasts: [], faces: [], legacyFaces: [], scans: opts.scans || [] }
  let next = 0
  const later = fn => setTimeout(fn, 0)

  const wx = {
    login({ success, fail }) {
      calls.logins++
      const code = opts.loginCode || codes[next++]
      later(() => (code ? success({ code, errMsg: 'login:ok' }) : fail({ errMsg: 'login:fail no code left' })))
    },
    request({ url, method = 'GET', header = {}, data, timeout = 60000, success, fail, complete }) {
      const path = new URL(url).pathname
      calls.requests.push({ method, path, header })
      const body = data === undefined ? undefined : typeof data === 'string' ? data : JSON.stringify(data)
      httpRequest({ url, method, headers: header, body, timeoutMs: timeout }).then(
        res => {
          let parsed = res.text
          try {
            parsed = JSON.parse(res.text)
          } catch (e) {
            // WeChat hands over the text when it is not JSON.
          }
          const r = { statusCode: res.status, header: res.headers, data: parsed, errMsg: 'request:ok' }
          if (opts.onResponse) opts.onResponse(r, { method, path })
          if (success) success(r)
          if (complete) complete(r)
        },
        err => {
          const r = { errMsg: err.timeout ? 'request:fail timeout' : `request:fail ${err.code || err.message}` }
          if (fail) fail(r)
          if (complete) complete(r)
        },
      )
      return { abort() {} }
    },
    getStorageSync: key => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => storage.set(key, value),
    removeStorageSync: key => storage.delete(key),
    navigateTo: ({ url }) => calls.navigate.push(url),
    redirectTo: ({ url }) => calls.redirect.push(url),
    navigateBack: () => calls.back++,
    showModal({ content, success, complete }) {
      calls.modals.push(content)
      const res = { confirm: opts.confirm !== false, cancel: opts.confirm === false }
      later(() => {
        if (success) success(res)
        if (complete) complete(res)
      })
    },
    showToast: ({ title }) => calls.toasts.push(title),
    scanCode({ success, fail }) {
      const text = calls.scans.shift()
      later(() => (text ? success({ result: text, scanType: 'QR_CODE', errMsg: 'scanCode:ok' }) : fail({ errMsg: 'scanCode:fail cancel' })))
    },
  }
  if (face === 'current') {
    wx.requestFacialVerify = ({ verifyId, success, fail }) => {
      calls.faces.push(verifyId)
      later(() => (opts.faceCancelled ? fail({ errCode: 90100, errMsg: 'requestFacialVerify:fail cancel' }) : success({ errCode: 0, errMsg: 'requestFacialVerify:ok' })))
    }
  }
  if (face === 'legacy') {
    // The older API takes the name and number from the mini-program and
    // answers a verify_result; the fake WeChat server knows the one for
    // this user's person.
    wx.startFacialRecognitionVerify = ({ name, idCardNumber, success, fail }) => {
      calls.legacyFaces.push({ name, idCardNumber })
      const p = fx.people[user]
      later(() =>
        name === p.name && idCardNumber === p.doc_number
          ? success({ errCode: 0, verifyResult: fx.wechat.legacy[user], errMsg: 'startFacialRecognitionVerify:ok' })
          : fail({ errCode: 10002, errMsg: 'startFacialRecognitionVerify:fail identity' }),
      )
    }
  }
  return { wx, calls, storage }
}

module.exports = { createWx }
