// Real-name claim: name, document type (the server's list) and number; the
// claim binds once today's face check passes, so the face page opens next.
const { act, show, fields } = require('../../lib/pagekit.js')
const { selfDocTypes } = require('../../lib/catalog.js')

const app = getApp()

Component({
  data: Object.assign({}, fields, {
    docTypes: selfDocTypes,
    docIndex: 0,
    name: '',
    docNumber: '',
    // WeChat's idcard keyboard has the X key a resident ID may end with.
    inputType: 'idcard',
  }),
  methods: {
    onShow() {
      show(this, app.shell)
    },
    onName(e) {
      this.setData({ name: e.detail.value })
    },
    onDocType(e) {
      const docIndex = Number(e.detail.value)
      this.setData({ docIndex, inputType: selfDocTypes[docIndex].value === 'resident_id' ? 'idcard' : 'text' })
    },
    onDocNumber(e) {
      this.setData({ docNumber: e.detail.value })
    },
    submit() {
      return act(this, app.shell, async () => {
        if (!this.data.name.trim() || !this.data.docNumber.trim()) {
          this.setData({ error: '请填写姓名和证件号码' })
          return
        }
        await app.shell.claim({ name: this.data.name, docType: selfDocTypes[this.data.docIndex].value, docNumber: this.data.docNumber })
        app.shell.platform.redirect(app.shell.pages.face)
      })
    },
  },
})
