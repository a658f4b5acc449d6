// Staff: scan a citizen's code and open the watermarked verification view.
// PLACE: 场所签到 — the venue check-in scan (POST /api/v1/checkins, then its
// result page) joins this page when the venue issue lands
// (lib/features.js venueCheckin; lib/shell.js scan).
const { act, show, fields } = require('../../lib/pagekit.js')

const app = getApp()

Page({
  data: Object.assign({}, fields),
  async onShow() {
    show(this, app.shell)
    await app.ready
  },
  scan() {
    return act(this, app.shell, () => app.shell.scan())
  },
})
