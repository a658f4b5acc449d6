// Family members linked to the account: their status, their code, removal.
const { act, show, fields, datasetOf } = require('../../lib/pagekit.js')

const app = getApp()

Component({
  data: Object.assign({}, fields, { relatives: [], loaded: false }),
  methods: {
    async onShow() {
      show(this, app.shell)
      await app.ready
      await this.load()
    },
    load() {
      return act(this, app.shell, async () => this.setData({ relatives: await app.shell.relatives(), loaded: true }))
    },
    add() {
      app.shell.platform.navigate(app.shell.pages.relativeAdd)
    },
    openCode(e) {
      const id = datasetOf(e).id
      return act(this, app.shell, () => app.shell.openCode({ relativeId: id }))
    },
    async remove(e) {
      const id = datasetOf(e).id
      const removed = await act(this, app.shell, () => app.shell.removeRelative(id))
      if (removed) await this.load()
    },
  },
})
