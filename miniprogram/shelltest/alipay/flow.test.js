// The Alipay shell end to end against the real backend through its logic
// modules: my.getAuthCode → login → bind → face start → my.startAPVerify
// (the fake Alipay gateway reports a pass) → face callback → ticket → the
// web-view URL opens the code page, which answers 200 with a signed code;
// relatives; the staff scan.

const test = require('node:test')
const assert = require('node:assert/strict')
const { fixtures, api, openPage, pageAPI } = require('../harness/backend.js')
const { createMy } = require('../harness/my.js')
const { app, launch } = require('./runtime.js')

const fx = fixtures()
const opts = { timeout: 30000 }

function session(fake) {
  return JSON.parse(fake.storage.get('hc_session'))
}

async function viewCode(src) {
  const page = await openPage(src)
  assert.equal(page.status, 200)
  const code = await pageAPI(page.cookie, 'GET', '/h5/api/code')
  assert.equal(code.status, 200)
  return code.json
}

function webviewSrc(fake) {
  const url = fake.calls.navigate[fake.calls.navigate.length - 1]
  assert.match(url, /^\/pages\/webview\/webview\?url=/)
  return app.shell.webviewURL({ url: url.split('?url=')[1] })
}

test('Alipay shell, citizen and staff', opts, async t => {
  const fake = createMy('flow')
  const person = fx.people['alipay-flow']
  let qr = ''

  await t.test('launch logs in with my.getAuthCode (auth_base) and keeps the token', async () => {
    await launch(fake, fx.backend)
    assert.equal(app.launchError, undefined)
    assert.deepEqual(fake.calls.scopes, ['auth_base'])
    assert.equal(fake.calls.requests[0].path, '/api/v1/auth/alipay')
    assert.equal(fake.calls.requests[0].headers['Content-Type'], 'application/json')
    assert.equal(session(fake).account.platform, 'alipay')
  })

  await t.test('an unbound account is sent to the bind page', async () => {
    assert.equal(await app.shell.openCode(), null)
    assert.equal(fake.calls.navigate.pop(), '/pages/bind/bind')
  })

  await t.test('claim, then face: my.startAPVerify with the certify URL, the callback passes', async () => {
    const identity = await app.shell.claim({ name: person.name, docType: 'resident_id', docNumber: person.doc_number.toLowerCase() })
    assert.equal(identity.status, 'pending_face_verification')
    const before = session(fake).token
    const r = await app.shell.verifyFace()
    assert.equal(r.status, 'passed')
    assert.equal(r.message, '人脸核验通过，今日有效至 24:00')
    assert.equal(fake.calls.faces.length, 1)
    assert.ok(fake.calls.faces[0].url.startsWith(fx.alipay.gateway))
    const callback = fake.calls.requests.filter(x => x.path === '/api/v1/face/callback')
    assert.equal(callback.length, 1)
    const s = session(fake)
    assert.notEqual(s.token, before)
    assert.equal(s.account.identity_bound, true)
    assert.equal(s.account.face_verified_today, true)
  })

  await t.test('the code: a ticket, the web-view URL opens the code page with a signed code', async () => {
    await app.shell.openCode()
    const src = webviewSrc(fake)
    assert.ok(src.startsWith(fx.backend + '/h5/code?ticket='))
    const code = await viewCode(src)
    assert.match(code.qr, /^HC1JKM:/)
    assert.equal(code.kind, 'personal')
    qr = code.qr
  })

  await t.test('relatives: household proof at once, 人工审核 with its due time, a relative\'s code, removal', async () => {
    const mother = fx.people['alipay-flow-household']
    const approved = await app.shell.addRelative({ name: mother.name, docType: 'resident_id', docNumber: mother.doc_number, relation: 'parent' })
    assert.equal(approved.status, 'approved')
    assert.equal(approved.message, '已通过（同一户籍核验），可查看其健康码')
    const friend = fx.people['alipay-flow-manual']
    const pending = await app.shell.addRelative({ name: friend.name, docType: 'resident_id', docNumber: friend.doc_number, relation: 'other' })
    assert.equal(pending.status, 'pending')
    assert.match(pending.message, /^已提交人工审核，预计 11-24 12:\d\d 前完成$/)

    const list = await app.shell.relatives()
    assert.deepEqual(list.map(r => r.status).sort(), ['approved', 'pending'])
    await app.shell.openCode({ relativeId: approved.id })
    const code = await viewCode(webviewSrc(fake))
    assert.equal(code.kind, 'relative')

    assert.equal(await app.shell.removeRelative(pending.id), true)
    assert.match(fake.calls.confirms.pop(), /解除/)
    assert.deepEqual((await app.shell.relatives()).map(r => r.id), [approved.id])
  })

  await t.test('staff scan: my.scan, a verify ticket, the verification view judges the code', async () => {
    const grant = await api('POST', '/api/v1/admin/verifiers', { operator: true, body: { account_id: session(fake).account.id, place: '测试站' } })
    assert.equal(grant.status, 201)
    fake.calls.scans.push(qr)
    await app.shell.scan()
    const src = webviewSrc(fake)
    assert.match(src, /\/h5\/verify\?ticket=[^#]+#qr=HC1JKM%3A/)
    const page = await openPage(src)
    assert.equal(page.status, 200)
    const verdict = await pageAPI(page.cookie, 'POST', '/h5/api/verify', { qr: decodeURIComponent(page.fragment.slice(3)) })
    assert.equal(verdict.status, 200)
    assert.equal(verdict.json.result, 'valid')
  })
})
