// Adds a family member: name, document, relation. The answer is approved at
// once when the city's records prove the relation, else 人工审核 with its
// due time.
const { act, show, fields } = require('../../lib/pagekit.js')
const { docTypes, relations } = require('../../lib/catalog.js')

const app = getApp()

Page({
  data: Object.assign({}, fields, {
    docTypes,
    relations,
    docIndex: 0,
    relationIndex: 0,
    name: '',
    docNumber: '',
    inputType: 'idcard',
    result: null,
  }),
  onShow() {
    show(this, app.shell)
  },
  onName(e) {
    this.setData({ name: e.detail.value })
  },
  onDocType(e) {
    const docIndex = Number(e.detail.value)
    this.setData({ docIndex, inputType: docTypes[docIndex].value === 'resident_id' ? 'idcard' : 'text' })
  },
  onDocNumber(e) {
    this.setData({ docNumber: e.detail.value })
  },
  onRelation(e) {
    this.setData({ relationIndex: Number(e.detail.value) })
  },
  submit() {
    return act(this, app.shell, async () => {
      if (!this.data.name.trim() || !this.data.docNumber.trim()) {
        this.setData({ error: '请填写家人的姓名和证件号码' })
        return
      }
      const result = await app.shell.addRelative({
        name: this.data.name,
        docType: docTypes[this.data.docIndex].value,
        docNumber: this.data.docNumber,
        relation: relations[this.data.relationIndex].value,
      })
      this.setData({ result })
    })
  },
  back() {
    app.shell.platform.back()
  },
})
