divert(1)one
divert(2)two
divert(0)zero
divert(-1)gone
divert
end
