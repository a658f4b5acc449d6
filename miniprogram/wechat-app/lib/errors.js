// Errors the shell shows: the server's own message when it sent one (it is
// written to be shown to a citizen), else a readable sentence of our own.
// This file is the same in both shells.

/** An answer from the backend that was not a success, or no answer at all. */
class ApiError extends Error {
  /**
   * @param {object} o
   * @param {number} o.status HTTP status, 0 when nothing came back
   * @param {string} o.code the server's error.code, or "network" / "timeout"
   * @param {string} o.message safe to show
   * @param {string} [o.requestId] the server's request_id, for support
   * @param {number|null} [o.retryAfter] seconds, from Retry-After
   */
  constructor({ status, code, message, requestId = '', retryAfter = null }) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.requestId = requestId
    this.retryAfter = retryAfter
  }
}

const messages = {
  network: '网络连接失败，请检查网络后重试',
  timeout: '网络超时，请稍后再试',
  busy: '系统繁忙，请稍后再试',
  unauthorized: '登录已失效，请重新进入小程序',
  generic: '服务暂时不可用，请稍后再试',
}

/** The error for a request that got no HTTP answer. */
function networkError(timedOut) {
  return new ApiError({ status: 0, code: timedOut ? 'timeout' : 'network', message: timedOut ? messages.timeout : messages.network })
}

/**
 * The error for an HTTP answer that was not 2xx: the envelope
 * {"error":{"code","message","request_id"}} when the body has one.
 */
function httpError(status, data, retryAfter) {
  const e = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {}
  let message = typeof e.message === 'string' && e.message ? e.message : ''
  if (!message) {
    if (status === 401) message = messages.unauthorized
    else if (status === 429 || status === 503) message = messages.busy
    else message = messages.generic
  }
  return new ApiError({
    status,
    code: typeof e.code === 'string' && e.code ? e.code : `http_${status}`,
    message,
    requestId: typeof e.request_id === 'string' ? e.request_id : '',
    retryAfter,
  })
}

/** The message to show for any error thrown while handling a tap. */
function messageOf(err) {
  if (err instanceof ApiError) return err.message
  return messages.generic
}

module.exports = { ApiError, networkError, httpError, messageOf, messages }
