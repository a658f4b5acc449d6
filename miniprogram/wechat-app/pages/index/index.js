// Home: who is logged in, the identity and today's face check, and the
// way to each part of the service.
const { act, show, fields } = require('../../lib/pagekit.js')
const { setElder, isElder } = require('../../lib/elder.js')
const { homeView } = require('../../lib/views.js')

const app = getApp()

Component({
  data: Object.assign({}, fields, homeView(null)),
  methods: {
    async onShow() {
      show(this, app.shell)
      await app.ready
      await this.load()
    },
    load() {
      return act(this, app.shell, async () => this.setData(homeView(await app.shell.refresh())))
    },
    showCode() {
      return act(this, app.shell, () => app.shell.openCode())
    },
    goBind() {
      app.shell.platform.navigate(app.shell.pages.bind)
    },
    goFace() {
      app.shell.platform.navigate(app.shell.pages.face)
    },
    goRelatives() {
      app.shell.platform.navigate(app.shell.pages.relatives)
    },
    goScan() {
      app.shell.platform.navigate(app.shell.pages.scan)
    },
    toggleElder() {
      setElder(app.shell.platform, !isElder(app.shell.platform))
      show(this, app.shell)
    },
  },
})
