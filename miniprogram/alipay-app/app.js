// The Alipay shell: logs in at launch and holds the shell every page uses.
const config = require('./config.js')
const { createShell } = require('./lib/shell.js')
const { alipayPlatform } = require('./lib/platform.js')

App({
  onLaunch() {
    this.shell = createShell({ platform: alipayPlatform(my), config })
    // Pages wait for this before their first call; a failed launch is
    // retried by the page's next call (the token is obtained on demand).
    this.ready = this.shell.launch().catch(err => {
      this.launchError = err
      return null
    })
  },
})
