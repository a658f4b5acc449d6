// The WeChat shell: logs in at launch and holds the shell every page uses.
const config = require('./config.js')
const { createShell } = require('./lib/shell.js')
const { wechatPlatform } = require('./lib/platform.js')

App({
  onLaunch() {
    this.shell = createShell({ platform: wechatPlatform(wx), config })
    // Pages wait for this before their first call; a failed launch is
    // retried by the page's next call (the token is obtained on demand).
    this.ready = this.shell.launch().catch(err => {
      this.launchError = err
      return null
    })
  },
})
