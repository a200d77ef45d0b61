// Command lua-health runs an Argo CD custom health check (a Lua script, as put in argocd-cm under
// resource.customizations.health.<group_kind>) against one object, the way Argo CD's application
// controller runs it, and prints the health Argo CD would show:
//
//	lua-health [-open-libs] SCRIPT.lua [OBJECT.json | -]
//
// The object is read as JSON from the file, or from stdin when it is absent or "-". What the script
// sees and what comes back follow Argo CD (util/lua/lua.go and gitops-engine's pkg/health):
//
//   - The object is the global `obj`. JSON objects become Lua tables keyed by field name, arrays become
//     1-indexed tables (`ipairs` walks them), JSON null is absent (nil), numbers are Lua numbers.
//   - Without -open-libs (Argo CD's default for a check from argocd-cm, unless
//     resource.customizations.useOpenLibs.<group_kind> is "true") only the base, package and table
//     libraries are loaded, and `require("os")` gives os.time and os.date: there is no string, math or
//     io library and no global `os`.
//   - The script gets one second.
//   - An object being deleted (metadata.deletionTimestamp set) is never given to the script: Argo CD
//     shows it as Progressing, "Pending deletion".
//   - The returned table goes through JSON into {status, message}; a status that is not one of
//     Healthy, Progressing, Degraded, Suspended, Missing, Unknown becomes Unknown with Argo CD's
//     message. A nil return gives an empty health.
//
// Prints {"status":"...","message":"..."} on stdout. When the script does not compile, raises an
// error, runs out of time or returns neither a table nor nil, prints the error on stderr and exits 1:
// Argo CD shows the resource as Unknown with that error then.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
)

type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

const hookFinalizer = "argocd.argoproj.io/hook-finalizer"

func main() {
	openLibs := flag.Bool("open-libs", false,
		"load every standard library, as Argo CD does for its built-in checks and when resource.customizations.useOpenLibs.<group_kind> is \"true\"")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: lua-health [-open-libs] SCRIPT.lua [OBJECT.json | -]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 {
		flag.Usage()
		os.Exit(2)
	}
	script, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	var input io.Reader = os.Stdin
	if flag.NArg() == 2 && flag.Arg(1) != "-" {
		f, err := os.Open(flag.Arg(1))
		if err != nil {
			fail(err)
		}
		defer f.Close()
		input = f
	}
	// Plain float64 numbers, no json.Number: Argo CD's unstructured objects hold int64 and float64,
	// both of which become Lua numbers (a json.Number would become a string).
	var object map[string]any
	if err := json.NewDecoder(input).Decode(&object); err != nil {
		fail(fmt.Errorf("reading the object: %w", err))
	}
	result, err := resourceHealth(object, string(script), *openLibs)
	if err != nil {
		fail(err)
	}
	out, err := json.Marshal(result)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lua-health:", err)
	os.Exit(1)
}

// resourceHealth is gitops-engine's GetResourceHealth with a Lua override.
func resourceHealth(object map[string]any, script string, openLibs bool) (*health, error) {
	if metadata, ok := object["metadata"].(map[string]any); ok && metadata["deletionTimestamp"] != nil {
		hasHookFinalizer := false
		if finalizers, ok := metadata["finalizers"].([]any); ok {
			for _, f := range finalizers {
				hasHookFinalizer = hasHookFinalizer || f == hookFinalizer
			}
		}
		if !hasHookFinalizer {
			return &health{Status: "Progressing", Message: "Pending deletion"}, nil
		}
	}
	return executeHealthLua(object, script, openLibs)
}

// executeHealthLua runs the script as Argo CD's VM.ExecuteHealthLua does.
func executeHealthLua(object map[string]any, script string, openLibs bool) (*health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	if err := openArgoLibs(l, openLibs); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, object))
	fn, err := l.LoadString(script)
	if err != nil {
		return nil, err
	}
	l.Push(fn)
	if err := l.PCall(0, lua.MultRet, nil); err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
			apiErr.StackTrace = "" // Argo CD drops the stack trace before showing the error
		}
		return nil, err
	}
	returned := l.Get(-1)
	switch returned.Type() {
	case lua.LTNil:
		return &health{}, nil
	case lua.LTTable:
	default:
		return nil, fmt.Errorf("expect table output from Lua script, not %s", returned.Type())
	}
	encoded, err := luajson.Encode(returned)
	if err != nil {
		return nil, err
	}
	result := &health{}
	if err := json.Unmarshal(encoded, result); err != nil {
		// An empty table encodes as [] (and a field of the wrong type fails the same way): Argo CD
		// then shows an empty health rather than an error.
		var typeError *json.UnmarshalTypeError
		if errors.As(err, &typeError) {
			return &health{}, nil
		}
		return nil, err
	}
	switch result.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return result, nil
	}
	return &health{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
}

// openArgoLibs loads what Argo CD loads on top of lua.NewState: the package, base and table
// libraries, and a safe os module with only time and date, reachable through require("os"). With the
// standard libraries off that is all there is (no global os, no string, math or io).
func openArgoLibs(l *lua.LState, openLibs bool) error {
	libs := map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	}
	if !openLibs {
		libs[lua.OsLibName] = lua.OpenOs // only to take os.time and os.date from it: hidden again below
	}
	for _, name := range []string{lua.LoadLibName, lua.BaseLibName, lua.TabLibName, lua.OsLibName} {
		if open, ok := libs[name]; ok {
			if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), NRet: 0, Protect: true}, lua.LString(name)); err != nil {
				return err
			}
		}
	}
	// gopher-lua's own os.time and os.date are the ones Argo CD's safe os module copies.
	full, ok := l.GetGlobal(lua.OsLibName).(*lua.LTable)
	if !ok {
		return errors.New("gopher-lua did not open its os library")
	}
	safe := map[string]lua.LValue{"time": full.RawGetString("time"), "date": full.RawGetString("date")}
	loaded, ok := l.GetField(l.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable)
	if !ok {
		return errors.New("gopher-lua has no package.loaded")
	}
	if !openLibs {
		l.SetGlobal(lua.OsLibName, lua.LNil)
		loaded.RawSetString(lua.OsLibName, lua.LNil)
	}
	// Argo CD registers its safe os functions under the name of the table library, so they also show
	// up as table.time and table.date.
	if table, ok := loaded.RawGetString(lua.TabLibName).(*lua.LTable); ok {
		for name, fn := range safe {
			table.RawSetString(name, fn)
		}
	}
	// Used by require("os") only when no os module is loaded, that is with the standard libraries off.
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		module := l.NewTable()
		for name, fn := range safe {
			module.RawSetString(name, fn)
		}
		l.Push(module)
		return 1
	})
	return nil
}

// toLua converts a decoded JSON value as Argo CD's decodeValue converts an unstructured object.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		array := l.CreateTable(len(v), 0)
		for _, item := range v {
			array.Append(toLua(l, item)) // Append skips nil: a null item is dropped
		}
		return array
	case map[string]any:
		table := l.CreateTable(0, len(v))
		for key, item := range v {
			table.RawSetH(lua.LString(key), toLua(l, item))
		}
		return table
	}
	return lua.LNil
}
