// The login token, kept in the platform's storage: obtained at launch with
// the platform's login code, replaced whenever the backend hands out a new
// one (identity claim, face check) and obtained again after a 401.
// This file is the same in both shells.

const storageKey = 'hc_session'

/**
 * createSession returns the token store. api is attached afterwards
 * (attach), since logging in is itself an API call.
 */
function createSession({ platform }) {
  let api = null
  let pending = null
  let logins = 0

  function load() {
    const v = platform.storage.get(storageKey)
    if (!v) return null
    try {
      const s = typeof v === 'string' ? JSON.parse(v) : v
      return s && typeof s.token === 'string' && s.token ? s : null
    } catch (e) {
      return null
    }
  }

  /** update keeps what a login, claim or face answer returned. */
  function update(resp) {
    if (!resp || typeof resp.token !== 'string' || !resp.token) return
    platform.storage.set(storageKey, JSON.stringify({ token: resp.token, expires_at: resp.expires_at || '', account: resp.account || null }))
  }

  /** setAccount replaces the stored account view (after GET /api/v1/me). */
  function setAccount(account) {
    const s = load()
    if (!s || !account) return
    s.account = account
    platform.storage.set(storageKey, JSON.stringify(s))
  }

  /**
   * login asks the platform for a login code and trades it for a token;
   * concurrent callers share one login. Throws ApiError.
   */
  function login() {
    if (!pending) {
      pending = (async () => {
        const { path, body } = await platform.login()
        logins++
        const resp = await api.request('POST', path, body, { auth: false })
        update(resp)
        return resp
      })().finally(() => {
        pending = null
      })
    }
    return pending
  }

  /** token answers the stored token, logging in first when there is none. */
  async function token() {
    const s = load()
    if (s) return s.token
    const resp = await login()
    return resp.token
  }

  return {
    attach(a) {
      api = a
    },
    login,
    token,
    update,
    setAccount,
    account() {
      const s = load()
      return s ? s.account : null
    },
    clear() {
      platform.storage.remove(storageKey)
    },
    /** loginCount is how many logins this session ran (for tests and logs). */
    loginCount() {
      return logins
    },
  }
}

module.exports = { createSession, storageKey }
