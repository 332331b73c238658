module vmimage

go 1.19
