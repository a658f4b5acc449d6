// The one way the shell talks to the backend: JSON over the platform's
// request function, the session token attached, one fresh login on 401,
// waiting out Retry-After on 429 and 503 (bounded), errors as ApiError.
// This file is the same in both shells; the platform object is passed in.

const { networkError, httpError } = require('./errors.js')

/** Limits of the client: every request ends within them. */
const defaults = {
  timeoutMs: 10000, // one request
  maxRetries: 2, // 429/503 retries of one call
  maxWaitSeconds: 10, // longer Retry-After values are not waited for
}

/**
 * retryAfterSeconds reads Retry-After (delta seconds or an HTTP date);
 * null when absent or unreadable.
 */
function retryAfterSeconds(headers, now = Date.now()) {
  const v = header(headers, 'retry-after')
  if (v === '') return null
  if (/^\d+$/.test(v)) return Number(v)
  const at = Date.parse(v)
  if (Number.isNaN(at)) return null
  return Math.max(0, Math.ceil((at - now) / 1000))
}

/** header finds a response header whatever the case of its name. */
function header(headers, name) {
  if (!headers) return ''
  for (const k of Object.keys(headers)) {
    if (k.toLowerCase() === name) {
      const v = headers[k]
      return Array.isArray(v) ? String(v[0]) : String(v)
    }
  }
  return ''
}

function parseBody(data) {
  if (typeof data !== 'string') return data
  try {
    return JSON.parse(data)
  } catch (e) {
    return data
  }
}

/**
 * createApi returns request(method, path, body, options) bound to the
 * backend at baseURL.
 *
 * @param {object} o
 * @param {object} o.platform the shell's platform adapter (lib/platform.js)
 * @param {string} o.baseURL e.g. "https://healthcode.example.gov.cn", no trailing slash
 * @param {object} o.session token store (lib/session.js); null for calls without one
 * @param {function} [o.onWait] called with (seconds, error) before waiting out a 429/503
 */
function createApi({ platform, baseURL, session, onWait = () => {}, limits = {} }) {
  const lim = Object.assign({}, defaults, limits)
  const base = String(baseURL).replace(/\/+$/, '')

  async function once(method, path, body, auth) {
    const headers = { Accept: 'application/json' }
    let data
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      headers['Content-Type'] = 'application/json'
      data = JSON.stringify(body === undefined ? {} : body)
    }
    if (auth) {
      const token = await session.token()
      if (token) headers.Authorization = 'Bearer ' + token
    }
    try {
      return await platform.request({ url: base + path, method, headers, data, timeout: lim.timeoutMs })
    } catch (e) {
      throw networkError(Boolean(e && e.timeout))
    }
  }

  /**
   * request sends one API call and answers its JSON body. Options: auth
   * (default true) attaches the session token and logs in again once on
   * 401. Throws ApiError.
   */
  async function request(method, path, body, { auth = true } = {}) {
    let relogged = false
    let retries = 0
    for (;;) {
      const res = await once(method, path, body, auth)
      const data = parseBody(res.data)
      if (res.status >= 200 && res.status < 300) return data
      const wait = retryAfterSeconds(res.headers)
      const err = httpError(res.status, data, wait)
      if (res.status === 401 && auth && !relogged) {
        relogged = true
        session.clear()
        await session.login()
        continue
      }
      if ((res.status === 429 || res.status === 503) && wait !== null && wait <= lim.maxWaitSeconds && retries < lim.maxRetries) {
        retries++
        onWait(wait, err)
        await platform.sleep(wait * 1000)
        continue
      }
      throw err
    }
  }

  return { request, baseURL: base }
}

module.exports = { createApi, retryAfterSeconds, defaults }
