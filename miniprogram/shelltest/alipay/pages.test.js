// The Alipay shell's pages (Page() definitions, .axml event names) driven
// the way the runtime would, against the real backend.

const test = require('node:test')
const assert = require('node:assert/strict')
const { fixtures, openPage } = require('../harness/backend.js')
const { createMy } = require('../harness/my.js')
const { app, launch, open, openURL } = require('./runtime.js')

const fx = fixtures()

test('Alipay pages: home → bind → face → code, relatives, scan, elder mode', { timeout: 30000 }, async () => {
  const fake = createMy('pages')
  const person = fx.people['alipay-pages']
  await launch(fake, fx.backend)

  const home = await open('index')
  assert.equal(home.data.error, '')
  assert.equal(home.data.stateText, '未实名认证')
  await home.showCode()
  assert.equal(fake.calls.navigate.pop(), '/pages/bind/bind')

  const bind = await open('bind')
  assert.equal(bind.data.inputType, 'idcard')
  bind.onName({ detail: { value: person.name } })
  bind.onDocNumber({ detail: { value: person.doc_number.toLowerCase() } })
  await bind.submit()
  assert.equal(bind.data.error, '')
  assert.equal(fake.calls.redirect.pop(), '/pages/face/face')

  const face = await open('face')
  assert.match(face.data.maskedName, /^王\*+$/)
  await face.start()
  assert.equal(face.data.status, 'passed')
  assert.equal(face.data.message, '人脸核验通过，今日有效至 24:00')
  await face.showCode()

  const web = await openURL(fake.calls.navigate.pop())
  assert.equal(web.data.error, '')
  assert.equal((await openPage(web.data.src)).status, 200)

  const add = await open('relative-add')
  const mother = fx.people['alipay-pages-household']
  add.onRelation({ detail: { value: add.data.relations.findIndex(r => r.value === 'parent') } })
  add.onName({ detail: { value: mother.name } })
  add.onDocNumber({ detail: { value: mother.doc_number } })
  await add.submit()
  assert.equal(add.data.result.status, 'approved')

  const list = await open('relatives')
  assert.equal(list.data.relatives.length, 1)
  await list.openCode({ currentTarget: { dataset: { id: list.data.relatives[0].id } } })
  assert.match(fake.calls.navigate.pop(), /^\/pages\/webview\/webview\?url=/)

  const scan = await open('scan')
  await scan.scan()
  assert.equal(scan.data.error, '')

  home.toggleElder()
  assert.equal(home.data.elder, true)
  assert.equal((await open('bind')).data.elder, true)
  assert.equal(app.shell.platform.storage.get('hc_elder'), '1')
})
