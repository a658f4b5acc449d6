// The Alipay side of the shell: every my.* call the shared modules need,
// behind one small adapter (the WeChat shell has the same one over wx.*).

const { ApiError } = require('./errors.js')

// my.request's error numbers: 13 is a timeout, 19 an HTTP error status
// (the answer comes with it).
const errTimeout = 13

/**
 * alipayPlatform adapts my (passed in, so tests can hand in their own).
 */
function alipayPlatform(my) {
  return {
    name: 'alipay',

    /**
     * request sends one HTTP request; it resolves with any HTTP answer
     * ({status, headers, data}), whether my.request reported it through
     * success or (an error status) through fail, and rejects only when
     * none came back (err.timeout set on a timeout).
     */
    request({ url, method, headers, data, timeout }) {
      return new Promise((resolve, reject) => {
        my.request({
          url, method, headers, data, timeout, dataType: 'json',
          success: res => resolve({ status: res.status || res.statusCode, headers: res.headers || res.header || {}, data: res.data }),
          fail: err => {
            const status = err && (err.status || err.statusCode)
            if (status) {
              resolve({ status, headers: err.headers || err.header || {}, data: err.data })
              return
            }
            const e = new Error((err && err.errorMessage) || 'request fail')
            e.timeout = Boolean(err && err.error === errTimeout)
            reject(e)
          },
        })
      })
    },

    /** login answers the login call for a fresh silent auth code (auth_base). */
    login() {
      return new Promise((resolve, reject) => {
        my.getAuthCode({
          scopes: 'auth_base',
          success: res => resolve({ path: '/api/v1/auth/alipay', body: { auth_code: res.authCode } }),
          fail: () => reject(new ApiError({ status: 0, code: 'login_failed', message: '支付宝登录失败，请稍后重试' })),
        })
      })
    },

    storage: {
      get: key => {
        try {
          const res = my.getStorageSync({ key })
          return (res && res.data) || ''
        } catch (e) {
          return ''
        }
      },
      set: (key, value) => my.setStorageSync({ key, data: value }),
      remove: key => my.removeStorageSync({ key }),
    },

    /** faceMode is "current" where Alipay's face service can start, else null. */
    faceMode() {
      return typeof my.startAPVerify === 'function' || typeof my.call === 'function' ? 'current' : null
    },

    /**
     * face opens Alipay's face service for a started certification. Only a
     * cancel (6001) or a network failure (6002) skips the backend: for
     * anything else the backend asks Alipay for the outcome.
     */
    face(start) {
      return new Promise(resolve => {
        const done = res => {
          const s = res && String(res.resultStatus || '')
          resolve(s === '6001' || s === '6002' ? { cancelled: true } : { callback: { certify_id: start.verify_id } })
        }
        const options = { url: start.url, certifyId: start.verify_id }
        if (typeof my.startAPVerify === 'function') {
          my.startAPVerify(Object.assign({}, options, { success: done, fail: done }))
        } else {
          my.call('startBizService', { name: 'open-certify', param: JSON.stringify(options) }, done)
        }
      })
    },

    legacyFace() {
      return Promise.resolve({ cancelled: true })
    },

    /** scan reads a QR code with the camera; '' when cancelled. */
    scan() {
      return new Promise(resolve => {
        my.scan({
          type: 'qr',
          hideAlbum: true,
          success: res => resolve((res && (res.code || res.qrCode)) || ''),
          fail: () => resolve(''),
        })
      })
    },

    navigate(url) {
      my.navigateTo({ url })
    },
    redirect(url) {
      my.redirectTo({ url })
    },
    back() {
      my.navigateBack({ delta: 1 })
    },
    alert(message) {
      return new Promise(resolve => {
        my.alert({ title: '提示', content: message, complete: () => resolve() })
      })
    },
    confirm(message) {
      return new Promise(resolve => {
        my.confirm({ title: '请确认', content: message, success: res => resolve(Boolean(res && res.confirm)), fail: () => resolve(false) })
      })
    },
    toast(message) {
      my.showToast({ content: message, type: 'none' })
    },
    sleep(ms) {
      return new Promise(resolve => setTimeout(resolve, ms))
    },
  }
}

module.exports = { alipayPlatform }
