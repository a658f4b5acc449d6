// The WeChat side of the shell: every wx.* call the shared modules need,
// behind one small adapter (the Alipay shell has the same one over my.*).

const { ApiError } = require('./errors.js')

/**
 * wechatPlatform adapts wx (passed in, so tests can hand in their own).
 */
function wechatPlatform(wx) {
  return {
    name: 'wechat',

    /**
     * request sends one HTTP request; it resolves with any HTTP answer
     * ({status, headers, data}) and rejects only when none came back
     * (err.timeout set on a timeout).
     */
    request({ url, method, headers, data, timeout }) {
      return new Promise((resolve, reject) => {
        wx.request({
          url, method, header: headers, data, timeout, dataType: 'json', responseType: 'text',
          success: res => resolve({ status: res.statusCode, headers: res.header || {}, data: res.data }),
          fail: err => {
            const e = new Error((err && err.errMsg) || 'request:fail')
            e.timeout = /timeout/i.test(e.message)
            reject(e)
          },
        })
      })
    },

    /** login answers the login call for a fresh wx.login code. */
    login() {
      return new Promise((resolve, reject) => {
        wx.login({
          success: res => resolve({ path: '/api/v1/auth/wechat', body: { code: res.code } }),
          fail: err => reject(loginFailed(err)),
        })
      })
    },

    storage: {
      get: key => {
        try {
          return wx.getStorageSync(key) || ''
        } catch (e) {
          return ''
        }
      },
      set: (key, value) => wx.setStorageSync(key, value),
      remove: key => wx.removeStorageSync(key),
    },

    /**
     * faceMode is "current" (wx.requestFacialVerify with the backend's
     * verify_id, base library 3.8.12 on), "legacy" (the older
     * wx.startFacialRecognitionVerify, which takes the name and number
     * itself), or null.
     */
    faceMode() {
      if (typeof wx.requestFacialVerify === 'function') return 'current'
      if (typeof wx.startFacialRecognitionVerify === 'function') return 'legacy'
      return null
    },

    /** face runs wx.requestFacialVerify for a started check. */
    face(start) {
      return new Promise(resolve => {
        wx.requestFacialVerify({
          verifyId: start.verify_id,
          success: () => resolve({ callback: { verify_id: start.verify_id } }),
          fail: () => resolve({ cancelled: true }),
        })
      })
    },

    /** legacyFace runs the older flow; its verify_result goes to the backend. */
    legacyFace(identity) {
      return new Promise(resolve => {
        wx.startFacialRecognitionVerify({
          name: identity.name,
          idCardNumber: identity.docNumber,
          checkAliveType: 2,
          success: res => resolve(res && res.verifyResult ? { callback: { verify_result: res.verifyResult } } : { cancelled: true }),
          fail: () => resolve({ cancelled: true }),
        })
      })
    },

    /** scan reads a QR code with the camera; '' when cancelled. */
    scan() {
      return new Promise(resolve => {
        wx.scanCode({
          onlyFromCamera: true,
          scanType: ['qrCode'],
          success: res => resolve(res.result || ''),
          fail: () => resolve(''),
        })
      })
    },

    navigate(url) {
      wx.navigateTo({ url })
    },
    redirect(url) {
      wx.redirectTo({ url })
    },
    back() {
      wx.navigateBack({ delta: 1 })
    },
    alert(message) {
      return new Promise(resolve => {
        wx.showModal({ title: '提示', content: message, showCancel: false, complete: () => resolve() })
      })
    },
    confirm(message) {
      return new Promise(resolve => {
        wx.showModal({ title: '请确认', content: message, success: res => resolve(Boolean(res && res.confirm)), fail: () => resolve(false) })
      })
    },
    toast(message) {
      wx.showToast({ title: message, icon: 'none' })
    },
    sleep(ms) {
      return new Promise(resolve => setTimeout(resolve, ms))
    },
  }
}

function loginFailed() {
  return new ApiError({ status: 0, code: 'login_failed', message: '微信登录失败，请稍后重试' })
}

module.exports = { wechatPlatform }
