// What pages show, computed from API answers (no platform calls). This
// file is the same in both shells.

const { untilText } = require('./time.js')

/** homeView is the home page's data for a GET /api/v1/me answer (or null). */
function homeView(me) {
  const account = (me && me.account) || {}
  const identity = (me && me.identity) || null
  const bound = Boolean(account.identity_bound)
  const pending = !bound && Boolean(identity && identity.status === 'pending_face_verification')
  let stateText = '未实名认证'
  if (bound) stateText = '已实名认证'
  else if (pending) stateText = '实名信息待人脸核验'
  return {
    bound,
    pending,
    stateText: me ? stateText : '正在登录…',
    maskedName: identity ? identity.masked_name : '',
    maskedDoc: identity ? identity.masked_doc : '',
    needFace: (bound || pending) && !account.face_verified_today,
    faceText: faceText(account),
  }
}

/** faceText says whether today's face check passed, and until when it lasts. */
function faceText(account) {
  if (account && account.face_verified_today) return `今日人脸核验有效至 ${untilText(account.face_valid_until)}`
  return '今日尚未完成人脸核验（核验通过后当日有效，至 24:00）'
}

module.exports = { homeView, faceText }
