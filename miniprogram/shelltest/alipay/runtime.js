// Loads the Alipay shell's app.js and pages under Node with a small
// stand-in for the mini-program runtime: App() and Page() capture their
// definitions, a page instance has data and setData, getApp() answers the
// app. The my object comes from harness/my.js (real HTTP to the backend).

const path = require('path')

const appRoot = path.resolve(__dirname, '../../alipay-app')
const config = require(path.join(appRoot, 'config.js'))

const app = {}
let appDefinition = null
let pageDefinition = null
global.getApp = () => app
global.App = def => {
  appDefinition = def
}
global.Page = def => {
  pageDefinition = def
}
require(path.join(appRoot, 'app.js'))

/** launch starts the mini-program with fake.my and the backend at baseURL. */
function launch(fake, baseURL) {
  global.my = fake.my
  config.baseURL = baseURL
  for (const k of Object.keys(app)) delete app[k]
  Object.assign(app, appDefinition)
  appDefinition.onLaunch.call(app)
  return app.ready
}

/** page builds an instance of a page (by folder name) as Alipay would. */
function page(name) {
  const file = path.join(appRoot, 'pages', name, `${name}.js`)
  delete require.cache[require.resolve(file)]
  pageDefinition = null
  require(file)
  if (!pageDefinition) throw new Error(`${name}.js did not call Page()`)
  const def = pageDefinition
  const instance = {
    data: JSON.parse(JSON.stringify(def.data || {})),
    setData(patch) {
      this.data = Object.assign({}, this.data, patch)
    },
  }
  for (const [k, v] of Object.entries(def)) {
    if (typeof v === 'function') instance[k] = v.bind(instance)
  }
  return instance
}

/** open builds a page and runs onLoad(query) and onShow. */
async function open(name, query = {}) {
  const p = page(name)
  if (p.onLoad) await p.onLoad(query)
  if (p.onShow) await p.onShow()
  return p
}

/** openURL opens a page from a navigateTo address with its query. */
function openURL(url) {
  const [p, q = ''] = url.split('?')
  const query = {}
  for (const pair of q.split('&').filter(Boolean)) {
    const i = pair.indexOf('=')
    query[pair.slice(0, i)] = pair.slice(i + 1)
  }
  return open(p.split('/')[2], query)
}

module.exports = { app, launch, page, open, openURL, appRoot }
