// The one setting of the shell: the backend's base URL (https, no trailing
// slash). It must be listed as a request domain (服务器域名白名单) and as the
// H5 domain of the web-view (web-view 域名) of the mini-program; see README.md.
module.exports = {
  baseURL: 'https://healthcode.example.gov.cn',
}
