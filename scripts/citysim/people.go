package main

import (
	"strconv"
	"time"

	"healthcode/models/document"
)

// The city's people are numbered: registered person no (1 … N) holds the
// document of index no-1; people who are on a list but never registered
// hold documents from unregisteredBase on. Every index below docSpace maps
// to a different valid GB 11643 resident ID, so no two people share one.

// regions are the administrative division codes documents are issued
// under. 110105 is left out: the load harness seeds its people there.
var regions = []string{
	"110101", "110102", "110106", "110108", "120101", "120104", "130102", "140105",
	"210102", "220102", "230102", "310101", "310104", "310105", "310106", "310107",
	"310109", "310110", "310112", "310113", "310115", "310116", "310117", "310118",
	"320102", "320505", "330106", "340102", "350102", "360102", "370102", "410105",
	"420102", "430102", "440103", "440305", "500103", "510104", "610113", "650102",
}

// Birth dates run over firstBirth … firstBirth+birthDays-1.
var firstBirth = time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	birthDays = 29220 // 1935-01-01 … 2014-12-31
	sequences = 1000  // the three-digit sequence (its last digit: sex)
	// docSpace is how many different documents the generator can make.
	docSpace = uint64(40 * birthDays * sequences)
	// docStride scatters consecutive indexes over regions, dates and
	// sequences; it is prime and above docSpace, so i → i·docStride mod
	// docSpace is a bijection.
	docStride = 2654435761
	// unregisteredBase is the first document index of people who are
	// listed but never registered.
	unregisteredBase = 1 << 28
)

// residentID returns the resident ID of document index i (< docSpace): a
// region, a birth date and a sequence, then the GB 11643 check digit.
func residentID(i uint64) string {
	k := i % docSpace * docStride % docSpace
	seq := k % sequences
	k /= sequences
	day := k % birthDays
	region := regions[k/birthDays]
	b := make([]byte, 0, 18)
	b = append(b, region...)
	b = firstBirth.AddDate(0, 0, int(day)).AppendFormat(b, "20060102")
	if seq < 100 {
		b = append(b, '0')
	}
	if seq < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, seq, 10)
	return string(append(b, document.CheckDigit(string(b))))
}

// registeredDoc is the document of registered person no (≥ 1).
func registeredDoc(no uint32) string { return residentID(uint64(no) - 1) }

// unregisteredDoc is the document of the j-th listed person who never
// registered.
func unregisteredDoc(j uint64) string { return residentID(unregisteredBase + j) }

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力国庆春雪梅海燕林波鹏宇浩然子涵欣怡佳琪思雨晨阳宁安")
)

// personName is a plausible name for person no: a surname and one or two
// given characters.
func personName(no uint32) string {
	n := uint64(no) * 2246822519
	out := []rune{surnames[n%uint64(len(surnames))], given[n/7%uint64(len(given))]}
	if n%3 != 0 {
		out = append(out, given[n/131%uint64(len(given))])
	}
	return string(out)
}

// spread returns the j-th of k person numbers chosen evenly over 1 … n
// among those ≡ residue (mod 5), or 0 when there are fewer than k of them.
// Different residues never give the same number, so lists built from
// different residues touch different people.
func spread(j, k, n uint64, residue uint64) uint32 {
	per := n / 5
	if per < k || j >= k {
		return 0
	}
	return uint32(5*(j*per/k) + residue)
}
