// The Alipay shell's error paths against the real backend: 401 → one fresh
// login; 503 with Retry-After → wait and retry; 403
// face_verification_required → the face page; no network → a readable
// message; HTTP error statuses whether my.request reports them through
// fail (error 19) or success.

const test = require('node:test')
const assert = require('node:assert/strict')
const { fixtures, api, holdSlots, closedURL } = require('../harness/backend.js')
const { createMy } = require('../harness/my.js')
const { app, launch, open } = require('./runtime.js')

const fx = fixtures()
const opts = { timeout: 30000 }

function session(fake) {
  return JSON.parse(fake.storage.get('hc_session'))
}

test('401: ended elsewhere, one fresh login, the call goes through', opts, async () => {
  const fake = createMy('relogin')
  await launch(fake, fx.backend)
  const old = session(fake)
  assert.equal((await api('POST', '/api/v1/auth/logout', { token: old.token, body: {} })).status, 200)
  const before = fake.calls.requests.length
  const me = await app.shell.refresh()
  assert.equal(me.account.id, old.account.id)
  assert.equal(fake.calls.logins, 2)
  assert.deepEqual(fake.calls.requests.slice(before).map(r => r.path), ['/api/v1/me', '/api/v1/auth/alipay', '/api/v1/me'])
})

test('401 after the fresh login too: one login, then the server\'s message', opts, async () => {
  const fake = createMy('relogin', { authCode: 'ap-not-a-real-code' })
  await launch(fake, fx.backend)
  assert.equal(app.launchError.status, 401)
  fake.storage.set('hc_session', JSON.stringify({ token: 'garbage' }))
  const home = await open('index')
  assert.equal(fake.calls.logins, 2)
  assert.equal(home.data.error, app.launchError.message)
  assert.notEqual(home.data.error, '')
})

test('503 with Retry-After: the page waits and retries', opts, async () => {
  let hold = null
  const seen = []
  const fake = createMy('busy', {
    onResponse: r => {
      if (r.status === 503 && hold) {
        seen.push(r.headers['Retry-After'])
        hold.release()
        hold = null
      }
    },
  })
  await launch(fake, fx.backend)
  hold = await holdSlots(fx.max_in_flight)
  const notices = []
  const off = app.shell.onWait(s => notices.push(s))
  const started = Date.now()
  const before = fake.calls.requests.length
  const home = await open('index')
  off()
  assert.deepEqual(seen, ['1'])
  assert.deepEqual(notices, [1])
  assert.ok(Date.now() - started >= 900, 'the retry came before Retry-After')
  assert.equal(home.data.error, '')
  assert.equal(home.data.notice, '')
  assert.equal(home.data.stateText, '未实名认证')
  assert.deepEqual(fake.calls.requests.slice(before).map(r => r.path), ['/api/v1/me', '/api/v1/me'])
})

test('403 face_verification_required opens the face page', opts, async () => {
  const fake = createMy('noface')
  const person = fx.people['alipay-noface']
  await launch(fake, fx.backend)
  await app.shell.claim({ name: person.name, docType: 'resident_id', docNumber: person.doc_number })
  const add = await open('relative-add')
  const mother = fx.people['alipay-noface-household']
  add.onName({ detail: { value: mother.name } })
  add.onDocNumber({ detail: { value: mother.doc_number } })
  fake.calls.navigate.length = 0
  await add.submit()
  assert.equal(add.data.error, '')
  assert.equal(add.data.result, null)
  assert.deepEqual(fake.calls.navigate, ['/pages/face/face'])
})

test('a cancelled face check is not reported to the backend', opts, async () => {
  const fake = createMy('noface', { faceResult: '6001' })
  await launch(fake, fx.backend)
  const before = fake.calls.requests.length
  const r = await app.shell.verifyFace()
  assert.equal(r.status, 'cancelled')
  assert.deepEqual(fake.calls.requests.slice(before).map(x => x.path), ['/api/v1/face/start'])
})

test('error statuses reach the shell through success as well as through fail', opts, async () => {
  const fake = createMy('httpstatus', { httpErrorsAsSuccess: true })
  await launch(fake, fx.backend)
  // The test ID with its check digit changed (built in two parts): the server's 400.
  const r = await app.shell.claim({ name: '张三', docType: 'resident_id', docNumber: '11010519491231' + '0021' }).then(() => 'resolved', e => e)
  assert.equal(r.status, 400)
  assert.equal(r.code, 'id_check_digit')
  assert.match(r.message, /校验/)
  assert.match(r.requestId, /\S/)
})

test('no network: a readable message', opts, async () => {
  const fake = createMy('relogin')
  await launch(fake, closedURL())
  assert.equal(app.launchError.code, 'network')
  const home = await open('index')
  assert.equal(home.data.error, '网络连接失败，请检查网络后重试')
})
