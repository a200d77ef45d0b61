// lua-health runs an Argo CD resource health check (a Lua script) against one object, with the Lua
// interpreter Argo CD embeds. Keep github.com/yuin/gopher-lua at the version Argo CD's own go.mod
// requires; hack/build-lua-health.sh names the binary after it.
module gpulease.local/lua-health

go 1.26.0

require (
	github.com/yuin/gopher-lua v1.1.2
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
)
