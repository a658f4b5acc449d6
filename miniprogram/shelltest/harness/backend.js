// The real backend, as the Go test started it: its address and test data
// come from the file named by HEALTHCODE_SHELL_FIXTURES. Everything here
// talks HTTP to 127.0.0.1 only.

const fs = require('fs')
const http = require('http')
const net = require('net')

let cached = null

/** fixtures reads what the Go test wrote: backend URL, users, people, keys. */
function fixtures() {
  if (cached) return cached
  const file = process.env.HEALTHCODE_SHELL_FIXTURES
  if (!file) throw new Error('HEALTHCODE_SHELL_FIXTURES is not set: run these tests with `go test ./miniprogram -run TestShells`')
  cached = JSON.parse(fs.readFileSync(file, 'utf8'))
  return cached
}

function loopbackOnly(url) {
  const u = new URL(url)
  if (u.hostname !== '127.0.0.1') throw new Error(`refusing to send test traffic off the loopback: ${url}`)
  return u
}

/**
 * httpRequest sends one request and resolves with {status, headers (as the
 * server wrote their names), text}; it rejects when no answer came back,
 * with err.timeout set when timeoutMs passed first.
 */
function httpRequest({ url, method = 'GET', headers = {}, body, timeoutMs = 10000 }) {
  const u = loopbackOnly(url)
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const raw = {}
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const k = res.rawHeaders[i]
          raw[k] = raw[k] === undefined ? res.rawHeaders[i + 1] : raw[k] + ', ' + res.rawHeaders[i + 1]
        }
        resolve({ status: res.statusCode, headers: raw, setCookie: res.headers['set-cookie'] || [], text: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => {
      const e = new Error('timeout')
      e.timeout = true
      req.destroy(e)
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/** api calls the backend directly (as the test, not the shell). */
async function api(method, path, { token, body, operator } = {}) {
  const fx = fixtures()
  const headers = {}
  if (token) headers.Authorization = 'Bearer ' + token
  if (operator) headers.Authorization = 'Operator ' + fx.operator_key
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await httpRequest({ url: fx.backend + path, method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  let json = null
  try {
    json = JSON.parse(res.text)
  } catch (e) {
    json = null
  }
  return { status: res.status, json, headers: res.headers }
}

/**
 * openPage does what the web-view does with a ticket address: GET it, take
 * the page cookie from the 303, follow to the page itself. It answers the
 * page's status and HTML, the cookie and the fragment (which a browser
 * keeps across the redirect).
 */
async function openPage(src) {
  const [address, fragment = ''] = src.split('#')
  const first = await httpRequest({ url: address })
  if (first.status !== 303) return { status: first.status, html: first.text, cookie: '', fragment }
  const cookie = first.setCookie.map(c => c.split(';')[0]).find(c => c.startsWith('hc_page=')) || ''
  const next = new URL(first.headers.Location || first.headers.location, address).toString()
  const page = await httpRequest({ url: next, headers: { Cookie: cookie } })
  return { status: page.status, html: page.text, cookie, fragment, url: next }
}

/** pageAPI calls the H5 pages' own API with the page cookie. */
async function pageAPI(cookie, method, path, body) {
  const fx = fixtures()
  const headers = { Cookie: cookie }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await httpRequest({ url: fx.backend + path, method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, json: JSON.parse(res.text) }
}

/**
 * holdSlots keeps every admission slot of the backend busy: n requests whose
 * bodies never finish arriving, so the handlers wait reading them. Once a
 * probe is refused with 503 the slots are known to be taken. release()
 * drops the connections and the slots come free.
 */
async function holdSlots(n) {
  const fx = fixtures()
  const u = loopbackOnly(fx.backend)
  const sockets = []
  for (let i = 0; i < n; i++) {
    const s = net.connect(Number(u.port), u.hostname)
    s.on('error', () => {})
    s.write(`POST /api/v1/auth/wechat HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n{`)
    sockets.push(s)
  }
  const release = () => sockets.forEach(s => s.destroy())
  const deadline = Date.now() + 5000
  for (;;) {
    const probe = await httpRequest({ url: fx.backend + '/api/v1/no-such-route' })
    if (probe.status === 503) break
    if (Date.now() > deadline) {
      release()
      throw new Error(`the backend did not fill its ${n} admission slots (probe answered ${probe.status})`)
    }
    await new Promise(r => setTimeout(r, 20))
  }
  return { release }
}

/** closedURL is an address on the loopback where nothing listens. */
function closedURL() {
  return fixtures().closed
}

/** waitFor polls cond until it holds, failing after timeoutMs. */
async function waitFor(cond, what, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 10))
  }
}

module.exports = { fixtures, httpRequest, api, openPage, pageAPI, holdSlots, closedURL, waitFor }
