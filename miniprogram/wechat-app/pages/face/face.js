// Face check: the backend starts it, WeChat's face flow runs, the backend
// asks WeChat for the outcome. Says how long today's check lasts (24:00).
const { act, show, fields } = require('../../lib/pagekit.js')
const { faceText } = require('../../lib/views.js')

const app = getApp()

Component({
  data: Object.assign({}, fields, {
    maskedName: '',
    maskedDoc: '',
    faceText: '',
    status: '',
    message: '',
    // The older WeChat face API takes the name and number from the page.
    needIdentity: false,
    name: '',
    docNumber: '',
  }),
  methods: {
    async onShow() {
      show(this, app.shell)
      await app.ready
      await act(this, app.shell, async () => {
        const me = await app.shell.refresh()
        if (!me.identity) {
          app.shell.platform.redirect(app.shell.pages.bind)
          return
        }
        this.setData({ maskedName: me.identity.masked_name, maskedDoc: me.identity.masked_doc, faceText: faceText(me.account) })
        if (me.account.face_verified_today) this.setData({ status: 'passed', message: faceText(me.account) })
      })
    },
    onName(e) {
      this.setData({ name: e.detail.value })
    },
    onDocNumber(e) {
      this.setData({ docNumber: e.detail.value })
    },
    start() {
      return act(this, app.shell, async () => {
        const identity = this.data.needIdentity ? { name: this.data.name, docType: 'resident_id', docNumber: this.data.docNumber } : undefined
        const r = await app.shell.verifyFace(identity)
        const account = app.shell.session.account()
        this.setData({ status: r.status, message: r.message, needIdentity: r.status === 'needs_identity', faceText: faceText(account) })
      })
    },
    showCode() {
      return act(this, app.shell, () => app.shell.openCode())
    },
  },
})
