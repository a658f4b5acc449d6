// The WeChat shell end to end against the real backend: launch → login →
// bind → face start → face callback (the fake WeChat server reports a
// pass) → ticket → the web-view URL opens the code page, which answers 200
// with a signed code; relatives; the staff scan; elder mode.

const { fixtures, api, openPage, pageAPI, waitFor } = require('../harness/backend.js')
const { createWx } = require('../harness/wx.js')
const { app, launch, open, openURL, tap, type, pick, text, node } = require('./sim.js')

const fx = fixtures()

function lastNavigation(calls) {
  return calls.navigate[calls.navigate.length - 1]
}

function storedSession(fake) {
  return JSON.parse(fake.storage.get('hc_session'))
}

/** viewCode opens a web-view address and reads the code page's data. */
async function viewCode(src) {
  const page = await openPage(src)
  expect(page.status).toBe(200)
  expect(page.html).toContain('<html')
  const code = await pageAPI(page.cookie, 'GET', '/h5/api/code')
  expect(code.status).toBe(200)
  return code.json
}

describe('WeChat shell, citizen and staff', () => {
  const fake = createWx('flow')
  const person = fx.people.flow
  let codeQR = ''

  test('launch logs in with wx.login and keeps the token', async () => {
    await launch(fake, fx.backend)
    expect(fake.calls.logins).toBe(1)
    expect(fake.calls.requests[0]).toMatchObject({ method: 'POST', path: '/api/v1/auth/wechat' })
    expect(fake.calls.requests[0].header['Content-Type']).toBe('application/json')
    const s = storedSession(fake)
    expect(s.token).toMatch(/\S{20,}/)
    expect(s.account).toMatchObject({ platform: 'wechat', identity_bound: false })
  })

  test('the home page sends an unbound account to the bind page', async () => {
    const home = await open('index')
    expect(text(home, '#state')).toBe('未实名认证')
    await tap(home, '#show-code')
    expect(lastNavigation(fake.calls)).toBe('/pages/bind/bind')
  })

  test('bind: name, resident ID typed with a lower-case x, then the face page', async () => {
    const bind = await open('bind')
    expect(bind.data.docTypes.map(d => d.value)).not.toContain('birth_certificate')
    expect(bind.data.inputType).toBe('idcard')
    await pick(bind, '#doc-type', 1)
    expect(bind.data.inputType).toBe('text')
    await pick(bind, '#doc-type', 0)
    expect(bind.data.inputType).toBe('idcard')
    await type(bind, '#name', ` ${person.name} `)
    expect(person.doc_number.endsWith('X')).toBe(true)
    await type(bind, '#doc-number', person.doc_number.toLowerCase())
    const before = storedSession(fake).token
    await tap(bind, '#submit')
    expect(bind.data.error).toBe('')
    expect(fake.calls.redirect.pop()).toBe('/pages/face/face')
    const claim = fake.calls.requests.find(r => r.path === '/api/v1/identity')
    expect(claim.header['Content-Type']).toBe('application/json')
    const s = storedSession(fake)
    expect(s.token).not.toBe(before)
    expect(s.account.identity_pending).toBe(true)
    expect(s.account.identity_bound).toBe(false)
  })

  test('face: wx.requestFacialVerify with the backend verify_id, the callback passes, a fresh token, valid until 24:00', async () => {
    const face = await open('face')
    expect(face.data.maskedName).toMatch(/^王\*+$/)
    expect(face.data.faceText).toContain('24:00')
    const before = storedSession(fake).token
    await tap(face, '#start')
    expect(face.data.error).toBe('')
    expect(fake.calls.faces).toHaveLength(1)
    const start = fake.calls.requests.filter(r => r.path === '/api/v1/face/start')
    expect(start).toHaveLength(1)
    expect(face.data.status).toBe('passed')
    expect(text(face, '#message')).toBe('人脸核验通过，今日有效至 24:00')
    expect(face.data.faceText).toBe('今日人脸核验有效至 24:00')
    const s = storedSession(fake)
    expect(s.token).not.toBe(before)
    expect(s.account).toMatchObject({ identity_bound: true, face_verified_today: true })
    // The typed number is gone from memory once the check passed.
    expect(app.shell.typedIdentity()).toBeNull()
  })

  test('show code: a ticket, the web-view opens the code page, which answers a signed code', async () => {
    const face = await open('face')
    await tap(face, '#show-code')
    const url = lastNavigation(fake.calls)
    expect(url).toMatch(/^\/pages\/webview\/webview\?url=/)
    const web = await openURL(url)
    expect(web.data.error).toBe('')
    expect(web.data.src.startsWith(fx.backend + '/h5/code?ticket=')).toBe(true)
    node(web, '#web')
    const code = await viewCode(web.data.src)
    expect(code.qr).toMatch(/^HC1JKM:/)
    expect(code.kind).toBe('personal')
    expect(code.colour).toBe('green')
    expect(code.masked_doc.endsWith('X')).toBe(true)
    codeQR = code.qr
    // The same ticket opens nothing a second time.
    const again = await openPage(web.data.src)
    expect(again.status).toBe(401)
  })

  test('the web-view page opens only the backend\'s own H5 pages', async () => {
    const web = await open('webview', { url: encodeURIComponent('https://elsewhere.example/h5/code') })
    expect(web.data.src).toBe('')
    expect(web.data.error).not.toBe('')
  })

  test('relatives: add one proven by the household register, one for 人工审核, open a code, remove one', async () => {
    const list = await open('relatives')
    expect(list.data.relatives).toHaveLength(0)
    node(list, '#empty')
    await tap(list, '#add')
    expect(lastNavigation(fake.calls)).toBe('/pages/relative-add/relative-add')

    const mother = fx.people['flow-household']
    let add = await open('relative-add')
    await pick(add, '#relation', add.data.relations.findIndex(r => r.value === 'parent'))
    await type(add, '#name', mother.name)
    await type(add, '#doc-number', mother.doc_number)
    await tap(add, '#submit')
    expect(add.data.error).toBe('')
    expect(add.data.result).toMatchObject({ status: 'approved', relationText: '父母' })
    expect(text(add, '#result-message')).toBe('已通过（同一户籍核验），可查看其健康码')
    await tap(add, '#back')
    expect(fake.calls.back).toBe(1)

    const friend = fx.people['flow-manual']
    add = await open('relative-add')
    await pick(add, '#relation', add.data.relations.findIndex(r => r.value === 'other'))
    await type(add, '#name', friend.name)
    await type(add, '#doc-number', friend.doc_number)
    await tap(add, '#submit')
    expect(add.data.result.status).toBe('pending')
    // Due within 24 h of the backend's clock (2026-11-23 12:00 in Shanghai).
    expect(text(add, '#result-message')).toMatch(/^已提交人工审核，预计 11-24 12:\d\d 前完成$/)

    const page = await open('relatives')
    expect(page.data.relatives.map(r => r.status).sort()).toEqual(['approved', 'pending'])
    const pending = page.data.relatives.find(r => r.status === 'pending')
    expect(pending.dueText).toMatch(/^预计 11-24 12:\d\d 前完成审核$/)
    expect(page.querySelectorAll('.open')).toHaveLength(1)
    await tap(page, '.open')
    const code = await viewCode((await openURL(lastNavigation(fake.calls))).data.src)
    expect(code.kind).toBe('relative')
    expect(code.masked_name).toMatch(/^李\*+$/)

    // Remove the pending one with its card's button.
    const removes = page.querySelectorAll('.remove')
    const index = page.data.relatives.findIndex(r => r.status === 'pending')
    removes[index].dispatchEvent('tap')
    await waitFor(() => !page.data.busy && page.data.relatives.length === 1, 'the removal')
    expect(fake.calls.modals.pop()).toContain('解除')
    expect(page.data.relatives[0].status).toBe('approved')
  })

  test('staff scan: wx.scanCode, a verify ticket, the verification view judges the scanned code', async () => {
    const account = storedSession(fake).account
    const grant = await api('POST', '/api/v1/admin/verifiers', { operator: true, body: { account_id: account.id, place: '测试医院东门' } })
    expect(grant.status).toBe(201)
    fake.calls.scans.push(codeQR)
    const scan = await open('scan')
    await tap(scan, '#scan')
    expect(scan.data.error).toBe('')
    const web = await openURL(lastNavigation(fake.calls))
    expect(web.data.src).toMatch(/\/h5\/verify\?ticket=[^#]+#qr=HC1JKM%3A/)
    const page = await openPage(web.data.src)
    expect(page.status).toBe(200)
    const qr = decodeURIComponent(page.fragment.replace(/^qr=/, ''))
    expect(qr).toBe(codeQR)
    const verdict = await pageAPI(page.cookie, 'POST', '/h5/api/verify', { qr })
    expect(verdict.status).toBe(200)
    expect(verdict.json).toMatchObject({ result: 'valid', colour: 'green', kind: 'personal' })
    expect(verdict.json.verifier_masked_name).toMatch(/^王\*+$/)
  })

  test('a cancelled scan opens nothing', async () => {
    const before = fake.calls.navigate.length
    const scan = await open('scan')
    await tap(scan, '#scan')
    expect(fake.calls.navigate.length).toBe(before)
    expect(scan.data.error).toBe('')
  })
})

describe('WeChat shell, older base library', () => {
  test('wx.startFacialRecognitionVerify with the typed identity, verify_result to the callback', async () => {
    const fake = createWx('legacy', { face: 'legacy' })
    const person = fx.people.legacy
    await launch(fake, fx.backend)
    const bind = await open('bind')
    await type(bind, '#name', person.name)
    await type(bind, '#doc-number', person.doc_number)
    await tap(bind, '#submit')
    const face = await open('face')
    await tap(face, '#start')
    expect(face.data.error).toBe('')
    expect(fake.calls.legacyFaces).toEqual([{ name: person.name, idCardNumber: person.doc_number }])
    expect(fake.calls.requests.some(r => r.path === '/api/v1/face/start')).toBe(false)
    expect(face.data.status).toBe('passed')
    expect(text(face, '#message')).toBe('人脸核验通过，今日有效至 24:00')
  })

  test('after a restart the page asks for the name and number again', async () => {
    const fake = createWx('oldlib', { face: 'legacy' })
    const person = fx.people.oldlib
    await launch(fake, fx.backend)
    const bind = await open('bind')
    await type(bind, '#name', person.name)
    await type(bind, '#doc-number', person.doc_number)
    await tap(bind, '#submit')
    // The mini-program restarts: what was typed is gone from memory.
    await launch(fake, fx.backend)
    const face = await open('face')
    await tap(face, '#start')
    expect(face.data.needIdentity).toBe(true)
    expect(fake.calls.legacyFaces).toHaveLength(0)
    await type(face, '#name', person.name)
    await type(face, '#doc-number', person.doc_number.toLowerCase())
    await tap(face, '#start')
    expect(fake.calls.legacyFaces).toEqual([{ name: person.name, idCardNumber: person.doc_number }])
    expect(face.data.status).toBe('passed')
  })
})

describe('WeChat shell, elder mode', () => {
  test('the switch enlarges every page and is remembered', async () => {
    const fake = createWx('elder')
    await launch(fake, fx.backend)
    const home = await open('index')
    expect(home.data.elder).toBe(false)
    node(home, '#elder').dispatchEvent('change', { detail: { value: true } })
    await new Promise(r => setTimeout(r, 5))
    expect(home.data.elder).toBe(true)
    expect(fake.storage.get('hc_elder')).toBe('1')
    expect(home.dom.firstChild.className).toContain('elder')
    const bind = await open('bind')
    expect(bind.data.elder).toBe(true)
    expect(bind.dom.firstChild.className).toContain('elder')
    node(home, '#elder').dispatchEvent('change', { detail: { value: false } })
    await new Promise(r => setTimeout(r, 5))
    expect(fake.storage.get('hc_elder')).toBe('0')
    expect((await open('face')).data.elder).toBe(false)
  })
})
