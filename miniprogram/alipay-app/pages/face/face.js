// Face check: the backend starts it, Alipay's face flow runs, the backend
// asks Alipay for the outcome. Says how long today's check lasts (24:00).
const { act, show, fields } = require('../../lib/pagekit.js')
const { faceText } = require('../../lib/views.js')

const app = getApp()

Page({
  data: Object.assign({}, fields, {
    maskedName: '',
    maskedDoc: '',
    faceText: '',
    status: '',
    message: '',
  }),
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
  start() {
    return act(this, app.shell, async () => {
      const r = await app.shell.verifyFace()
      this.setData({ status: r.status, message: r.message, faceText: faceText(app.shell.session.account()) })
    })
  },
  showCode() {
    return act(this, app.shell, () => app.shell.openCode())
  },
})
