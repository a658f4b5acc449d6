// The WeChat shell's error paths against the real backend: 401 → one fresh
// login; 503 with Retry-After → the page waits and retries; 429 likewise;
// 403 face_verification_required → the face page; no network → a readable
// message.

const { fixtures, api, holdSlots, closedURL, waitFor } = require('../harness/backend.js')
const { createWx } = require('../harness/wx.js')
const { app, launch, open, render, tap, type, text } = require('./sim.js')

const fx = fixtures()

function session(fake) {
  return JSON.parse(fake.storage.get('hc_session'))
}

test('401: the token was ended elsewhere, the shell logs in once more and the page loads', async () => {
  const fake = createWx('relogin')
  await launch(fake, fx.backend)
  const old = session(fake)
  const out = await api('POST', '/api/v1/auth/logout', { token: old.token, body: {} })
  expect(out.status).toBe(200)
  expect((await api('GET', '/api/v1/me', { token: old.token })).status).toBe(401)

  const before = fake.calls.requests.length
  const home = await open('index')
  expect(home.data.error).toBe('')
  expect(text(home, '#state')).toBe('未实名认证')
  expect(fake.calls.logins).toBe(2)
  const s = session(fake)
  expect(s.token).not.toBe(old.token)
  expect(s.account.id).toBe(old.account.id)
  expect(fake.calls.requests.slice(before).map(r => r.path)).toEqual(['/api/v1/me', '/api/v1/auth/wechat', '/api/v1/me'])
})

test('401 again after the fresh login: no loop, the server\'s message is shown', async () => {
  // A login code WeChat does not know: the backend refuses the login.
  const fake = createWx('badlogin', { loginCode: 'wx-not-a-real-code' })
  await launch(fake, fx.backend)
  expect(app.launchError).toMatchObject({ status: 401 })
  fake.storage.set('hc_session', JSON.stringify({ token: 'not-a-token' }))
  const home = await open('index')
  expect(fake.calls.logins).toBe(2)
  expect(fake.calls.requests.filter(r => r.path === '/api/v1/me')).toHaveLength(1)
  expect(home.data.error).not.toBe('')
  expect(text(home, '#error')).toBe(app.launchError.message)
})

test('503 busy with Retry-After: the page says so, waits and retries', async () => {
  const fake = createWx('busy', {
    onResponse: r => {
      if (r.statusCode === 503 && hold) {
        seen503.push(r.header['Retry-After'])
        hold.release()
        hold = null
      }
    },
  })
  let hold = null
  const seen503 = []
  await launch(fake, fx.backend)
  hold = await holdSlots(fx.max_in_flight)
  const before = fake.calls.requests.length
  const home = render('index')
  const shown = home.instance.onShow()
  await waitFor(() => home.data.notice !== '', 'the busy notice')
  expect(text(home, '#notice')).toBe('系统繁忙，1 秒后自动重试…')
  await shown
  expect(seen503).toEqual(['1'])
  expect(home.data.error).toBe('')
  expect(home.data.notice).toBe('')
  expect(text(home, '#state')).toBe('未实名认证')
  expect(fake.calls.requests.slice(before).map(r => r.path)).toEqual(['/api/v1/me', '/api/v1/me'])
})

test('429 rate_limited with Retry-After: the code waits for the next token', async () => {
  const fake = createWx('ratelimit')
  await launch(fake, fx.backend)
  const token = session(fake).token
  // Spend the account's page tickets (60 a minute, bursts of 60).
  let status = 0
  for (let i = 0; i < 100 && status !== 429; i++) status = (await api('POST', '/api/v1/h5/tickets', { token, body: { purpose: 'verify' } })).status
  expect(status).toBe(429)
  const statuses = []
  const f2 = createWx('ratelimit', { onResponse: r => statuses.push(r.statusCode) })
  f2.storage.set('hc_session', fake.storage.get('hc_session'))
  await launch(f2, fx.backend)
  const scan = await open('scan')
  f2.calls.scans.push('HC1JKM:ANYTHING')
  await tap(scan, '#scan')
  expect(scan.data.error).toBe('')
  expect(statuses.slice(-2)).toEqual([429, 201])
  expect(f2.calls.navigate.pop()).toMatch(/^\/pages\/webview\/webview\?url=/)
})

test('403 face_verification_required opens the face page', async () => {
  const fake = createWx('noface')
  const person = fx.people.noface
  await launch(fake, fx.backend)
  const bind = await open('bind')
  await type(bind, '#name', person.name)
  await type(bind, '#doc-number', person.doc_number)
  await tap(bind, '#submit')
  // The claim is pending: adding a relative needs today's face check.
  const mother = fx.people['noface-household']
  const add = await open('relative-add')
  await type(add, '#name', mother.name)
  await type(add, '#doc-number', mother.doc_number)
  fake.calls.navigate.length = 0
  await tap(add, '#submit')
  expect(add.data.error).toBe('')
  expect(add.data.result).toBeNull()
  expect(fake.calls.navigate).toEqual(['/pages/face/face'])
  const refused = fake.calls.requests.filter(r => r.path === '/api/v1/relatives')
  expect(refused).toHaveLength(1)
})

test('no network: a readable message, and the next try works', async () => {
  const fake = createWx('relogin')
  await launch(fake, closedURL())
  expect(app.launchError).toMatchObject({ code: 'network' })
  const home = await open('index')
  expect(text(home, '#error')).toBe('网络连接失败，请检查网络后重试')
  // The backend is reachable again (here: the right address), and the page loads.
  await launch(fake, fx.backend)
  const again = await open('index')
  expect(again.data.error).toBe('')
})
