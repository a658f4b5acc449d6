// The one setting of the shell: the backend's base URL (https, no trailing
// slash). It must be listed as a request domain (request合法域名) and as the
// web-view business domain (业务域名) of the mini-program; see README.md.
module.exports = {
  baseURL: 'https://healthcode.example.gov.cn',
}
