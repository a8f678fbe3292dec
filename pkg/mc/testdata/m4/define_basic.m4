define(`foo', `bar')foo
foo(1)
`foo'
define(`foo')foo.
