// Opens one of the backend's H5 pages (code or verification view) from a
// one-time ticket address; nothing else opens here.
const app = getApp()

Component({
  data: { src: '', error: '' },
  methods: {
    onLoad(query) {
      const src = app.shell.webviewURL(query)
      this.setData(src ? { src } : { error: '页面地址无效，请返回重试' })
    },
  },
})
